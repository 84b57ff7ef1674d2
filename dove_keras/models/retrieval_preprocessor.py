"""What the package's preprocessors share: raw caption and image dicts -> model inputs (TensorFlow ops)."""

import keras
import keras_hub

from dove_keras.models.preset_checks import CheckedPreset
from dove_keras.models.tf_preprocessing import tf_preprocessing


class RetrievalPreprocessor(CheckedPreset, keras_hub.models.Preprocessor):
    """Maps `{"captions", "images", ...}` to `{"token_ids", "padding_mask", "images", ...}`.

    Subclasses set the tokenizer's rules in `pack(captions) -> (token_ids,
    padding_mask)`; images go through `image_converter.convert`; other keys
    (e.g. `"image_ids"`, `"regions"`) pass through. It runs inside `tf.data`
    and eagerly on every backend, and it is what the SavedModel export puts
    in its graph.

    Args:
        tokenizer: the tokenizer `pack` uses.
        image_converter: a `DOVEImageConverter` (or subclass), or None.
        sequence_length: L, tokens per caption.
        minimum_length: the smallest L the tokenizer can use.
    """

    minimum_length = 1

    def __init__(self, tokenizer, image_converter=None, sequence_length=32, **kwargs):
        super().__init__(**kwargs)
        if int(sequence_length) < self.minimum_length:
            raise ValueError(f"sequence_length must be >= {self.minimum_length}, got {sequence_length}")
        self.tokenizer = tokenizer
        self.image_converter = image_converter
        self.sequence_length = int(sequence_length)

    @tf_preprocessing
    def call(self, x, y=None, sample_weight=None):
        return keras.utils.pack_x_y_sample_weight(self.convert(x), y, sample_weight)

    def convert(self, x):
        """The preprocessing of an input dict on TensorFlow tensors (what `call` runs)."""
        outputs = {key: value for key, value in x.items() if key not in ("captions", "images")}
        if "captions" in x:
            outputs["token_ids"], outputs["padding_mask"] = self.pack(x["captions"])
        if "images" in x:
            if self.image_converter is None:
                raise ValueError(f"This {type(self).__name__} has no image_converter for 'images'.")
            outputs["images"] = self.image_converter.convert(x["images"])
        return outputs

    def token_ids(self, captions):
        """int32 ids `(B, L)` (or `(L,)` for a scalar) of caption strings."""
        return self.pack(captions)[0]

    def get_config(self):
        config = super().get_config()
        config["sequence_length"] = self.sequence_length
        return config
