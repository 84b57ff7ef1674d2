"""Every registered dove_keras layer and model: config, symbolic call, `.keras` file, mixed precision."""

import keras
import numpy as np
import pytest
from clip_fixtures import dove_clip_batch
from clip_fixtures import small_clip_backbone
from clip_fixtures import small_dove_clip
from layer_checks import check_layer
from model_fixtures import SMALL_MODEL
from model_fixtures import batch
from model_fixtures import small_model

from dove_keras.layers import MLP
from dove_keras.layers import FastMaxPooling2D
from dove_keras.layers import InterModalGuidanceAttention
from dove_keras.layers import IntraModalFusionAttention
from dove_keras.layers import MultiscaleFusion
from dove_keras.layers import PatchTokenFusion
from dove_keras.layers import RegionFeatures
from dove_keras.layers import TextGenomeAttention
from dove_keras.models import DOVEBackbone
from dove_keras.models import ImageEncoder
from dove_keras.models import TextEncoder
from dove_keras.models.batch_similarity import BatchSimilarity
from dove_keras.models.clip import DOVECLIPBackbone
from dove_keras.models.clip.dove_clip_towers import CLIPPatchImageEncoder
from dove_keras.models.clip.dove_clip_towers import CLIPTokenTextEncoder

RNG = np.random.default_rng(0)
# Preprocessing layers run TensorFlow ops on strings and have no weights;
# they are tested by test_models_preprocessor.py and the preset tests.
PREPROCESSING = {"DOVETokenizer", "DOVEImageConverter", "DOVEPreprocessor"}
# The imported CLIP's task and preprocessing: checked against transformers, with preset and
# .keras round trips, in test_clip_import.py and test_clip_zero_shot.py.
CLIP = {"CLIPRetriever", "CLIPRetrieverImageConverter", "CLIPRetrieverPreprocessor"}
# The fine-tuning optimizer and warm-up schedule: against numpy, serialised, in test_clip_finetune.py
# and test_training_schedules.py.
OPTIMIZATION = {"GroupedAdamW", "LinearWarmup"}


def random(*shape):
    return RNG.standard_normal(shape).astype("float32")


def mask(*shape):
    values = np.ones(shape, bool)
    values[..., -1] = False  # one padded position per row
    return values


def _model_inputs(regions=None):
    """A batch of two as backbone inputs; `regions` `(N_r, D_r)` adds precomputed regions."""
    inputs = {key: value for key, value in batch(size=2).items() if key != "image_ids"}
    if regions is not None:
        inputs.update(regions=random(2, *regions), region_mask=mask(2, regions[0]))
    return inputs


def _features(size=3, regions=4, genes=6, d=16):
    image = {"global": random(size, d), "fused": random(size, d), "regions": random(size, regions, d),
             "region_mask": mask(size, regions)}
    text = {"global": random(size, d), "genes": random(size, genes, d), "gene_mask": mask(size, genes)}
    return image, text


CASES = {
    "MLP": (lambda: MLP(8, 4, dropout=0.1), lambda: (random(2, 5),)),
    "MultiscaleFusion": (
        lambda: MultiscaleFusion(8, multiscale_grid=2),
        lambda: ([random(2, 8, 8, 6), random(2, 4, 4, 10), random(2, 2, 2, 12)],),
    ),
    "RegionFeatures": (lambda: RegionFeatures(8, num_regions=2), lambda: (random(2, 5, 6), mask(2, 5))),
    "IntraModalFusionAttention": (
        lambda: IntraModalFusionAttention(8), lambda: (random(2, 5, 8), random(2, 4, 8), mask(2, 4)),
    ),
    "InterModalGuidanceAttention": (
        lambda: InterModalGuidanceAttention(8, key_dim=4),
        lambda: (random(3, 4, 8), mask(3, 4), random(2, 6, 8), mask(2, 6)),
    ),
    "FastMaxPooling2D": (lambda: FastMaxPooling2D(3, 2), lambda: (random(2, 9, 9, 4),)),
    "TextGenomeAttention": (lambda: TextGenomeAttention(6), lambda: (random(2, 8, 6), mask(2, 8))),
    "ImageEncoder": (
        lambda: ImageEncoder("tiny", embedding_dim=16, multiscale_grid=2), lambda: (batch(size=2)["images"],),
    ),
    "TextEncoder": (lambda: TextEncoder(40, embedding_dim=16, word_dim=8), lambda: (batch(size=2)["token_ids"],)),
    "BatchSimilarity": (lambda: BatchSimilarity(16, iga_key_dim=4), lambda: _features()),
    "DOVEBackbone": (lambda: DOVEBackbone(**SMALL_MODEL), lambda: (_model_inputs(),)),
    "DOVEBackbone[precomputed]": (
        lambda: DOVEBackbone(**SMALL_MODEL, region_source="precomputed", region_dim=10),
        lambda: (_model_inputs(regions=(5, 10)),),
    ),
    "DOVEBackbone[no-roam,no-dtga]": (
        lambda: DOVEBackbone(**SMALL_MODEL, use_roam=False, use_dtga=False), lambda: (_model_inputs(),),
    ),
    "DOVERetriever": (lambda: small_model(), lambda: (_model_inputs(),)),
    # DOVE-CLIP (DESIGN 1.7), on a small random keras-hub CLIP; gates open so that the heads weigh in.
    "InterModalGuidanceAttention[gated]": (
        lambda: InterModalGuidanceAttention(8, key_dim=4, residual_gate=True, gate_init=0.5),
        lambda: (random(3, 4, 8), mask(3, 4), random(2, 6, 8), mask(2, 6), random(2, 8)),
    ),
    "PatchTokenFusion": (lambda: PatchTokenFusion(8, 2), lambda: ([random(2, 4, 6), random(2, 4, 6)],)),
    "CLIPPatchImageEncoder": (
        lambda: _clip_tower(CLIPPatchImageEncoder, "vision"), lambda: (dove_clip_batch(size=2)["images"],),
    ),
    "CLIPTokenTextEncoder": (
        lambda: _clip_tower(CLIPTokenTextEncoder, "text"), lambda: (dove_clip_batch(size=2)["token_ids"],),
    ),
    "DOVECLIPBackbone": (
        lambda: DOVECLIPBackbone(small_clip_backbone(), iga_key_dim=4, gate_init=0.5),
        lambda: (_clip_inputs(),),
    ),
    "DOVECLIPRetriever": (lambda: small_dove_clip(), lambda: (_clip_inputs(),)),
}


def _clip_tower(cls, tower):
    """A DOVE-CLIP tower on a small random CLIP's `vision` or `text` transformer and projection."""
    clip = small_clip_backbone()
    extra = dict(gate_init=0.5) if tower == "vision" else {}
    return cls(getattr(clip, f"{tower}_encoder"), getattr(clip, f"{tower}_projection"), 16, **extra)


def _clip_inputs():
    return {key: value for key, value in dove_clip_batch(size=2).items() if key != "image_ids"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_registered_layer_passes_the_checks(name, tmp_path):
    keras.utils.set_random_seed(0)
    make, inputs = CASES[name]
    check_layer(make, inputs(), tmp_path)


def test_every_registered_class_is_checked():
    registered = {
        key.split(">", 1)[1] for key in keras.saving.get_custom_objects() if key.startswith("dove_keras>")
    }
    assert registered == {name.split("[")[0] for name in CASES} | PREPROCESSING | CLIP | OPTIMIZATION
