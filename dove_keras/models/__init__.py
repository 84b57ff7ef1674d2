"""DOVE models: the towers, the backbone factory and the retrieval model."""

from dove_keras.models.backbones import BACKBONE_CONFIGS
from dove_keras.models.backbones import build_backbone
from dove_keras.models.dove import DOVE
from dove_keras.models.image_encoder import ImageEncoder
from dove_keras.models.losses import triplet_loss
from dove_keras.models.text_encoder import TextEncoder
