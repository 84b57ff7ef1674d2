"""Retrieval models: DOVE (backbone, task, preprocessor, tokenizer, image converter) and imported CLIPs."""

from dove_keras.models.clip import CLIPRetriever
from dove_keras.models.clip import import_clip
from dove_keras.models.dove_backbone import DOVEBackbone
from dove_keras.models.dove_image_converter import DOVEImageConverter
from dove_keras.models.dove_preprocessor import DOVEPreprocessor
from dove_keras.models.dove_retriever import DOVERetriever
from dove_keras.models.dove_tokenizer import DOVETokenizer
from dove_keras.models.image_backbones import IMAGE_BACKBONES
from dove_keras.models.image_backbones import ImageBackboneError
from dove_keras.models.image_backbones import build_image_backbone
from dove_keras.models.image_encoder import ImageEncoder
from dove_keras.models.losses import triplet_loss
from dove_keras.models.optimizers import GroupedAdamW
from dove_keras.models.optimizers import LinearWarmup
from dove_keras.models.retrieval_task import RetrievalTask
from dove_keras.models.text_encoder import TextEncoder
