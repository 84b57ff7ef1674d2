"""Imported CLIP models (DESIGN section 1.7): keras-hub's `CLIPBackbone` as a retrieval task, and DOVE-CLIP."""

from dove_keras.models.clip.architectures import ARCHITECTURES
from dove_keras.models.clip.architectures import CLIPArchitecture
from dove_keras.models.clip.clip_preprocessor import CLIPRetrieverImageConverter
from dove_keras.models.clip.clip_preprocessor import CLIPRetrieverPreprocessor
from dove_keras.models.clip.clip_retriever import CLIPRetriever
from dove_keras.models.clip.dove_clip_backbone import DOVECLIPBackbone
from dove_keras.models.clip.dove_clip_retriever import DOVECLIPRetriever
from dove_keras.models.clip.dove_clip_retriever import dove_clip_from_clip
from dove_keras.models.clip.importer import import_clip
