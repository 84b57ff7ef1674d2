"""DOVE layers: one file per role, `keras.ops` only (FastMaxPooling2D: a backend kernel per backend)."""

from dove_keras.layers.fast_max_pooling import FastMaxPooling2D
from dove_keras.layers.inter_modal_guidance import InterModalGuidanceAttention
from dove_keras.layers.intra_modal_fusion import IntraModalFusionAttention
from dove_keras.layers.mlp import MLP
from dove_keras.layers.multiscale_fusion import MultiscaleFusion
from dove_keras.layers.patch_token_fusion import PatchTokenFusion
from dove_keras.layers.region_features import RegionFeatures
from dove_keras.layers.text_genome import TextGenomeAttention
