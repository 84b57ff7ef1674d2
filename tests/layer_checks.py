"""Checks every registered layer and model passes, in the spirit of keras-hub's `run_layer_test`.

`check_layer(make, inputs, tmp_path)`:
1. `get_config` -> `from_config` gives an equal config;
2. a symbolic call (`compute_output_spec` on `KerasTensor`s) gives the eager call's shapes and dtypes;
3. a `.keras` file of a model holding the layer reloads with identical outputs;
4. under the `mixed_bfloat16` policy the forward pass (compiled on JAX) stays finite.
"""

import json

import keras
import numpy as np
from keras import ops

from dove_keras.models.inference import compile_inference


@keras.saving.register_keras_serializable(package="dove_keras_tests")
class LayerHolder(keras.Model):
    """A model whose call is one layer's call on a tuple of inputs (to save a layer as `.keras`)."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def call(self, inputs):
        return self.layer(*inputs)

    def get_config(self):
        return {**super().get_config(), "layer": keras.saving.serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config.pop("layer")), **config)


def _flat(outputs):
    return [np.asarray(ops.convert_to_numpy(x)) for x in keras.tree.flatten(outputs) if x is not None]


def _symbolic(value):
    return keras.tree.map_structure(lambda x: keras.KerasTensor(x.shape, dtype=str(np.asarray(x).dtype)), value)


def check_layer(make, inputs, tmp_path):
    """Runs the four checks on `make()` (a new layer) called as `layer(*inputs)`."""
    layer = make()
    outputs = layer(*inputs)

    config = layer.get_config()
    expected = json.dumps(config, sort_keys=True, default=str)  # before from_config: keras-hub tasks edit it
    clone = type(layer).from_config(config)
    assert json.dumps(clone.get_config(), sort_keys=True, default=str) == expected

    spec = [x for x in keras.tree.flatten(layer.compute_output_spec(*[_symbolic(x) for x in inputs])) if x is not None]
    eager = _flat(outputs)
    assert [tuple(x.shape)[1:] for x in spec] == [x.shape[1:] for x in eager], (spec, layer)
    dtypes = [keras.backend.standardize_dtype(x.dtype) for x in spec]
    assert dtypes == [keras.backend.standardize_dtype(x.dtype) for x in eager], (dtypes, layer)

    holder = LayerHolder(layer)
    holder(inputs)
    path = str(tmp_path / f"{layer.name}.keras")
    holder.save(path)
    restored = keras.saving.load_model(path)
    for got, expected in zip(_flat(restored(inputs)), _flat(outputs)):
        np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=layer.name)

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = make()
        if keras.backend.backend() == "jax":  # eager JAX would compile each op again, in bfloat16
            mixed(*[_symbolic(x) for x in inputs])  # builds it: JAX cannot create variables while compiling
            forward = compile_inference(mixed)
        else:
            forward = mixed
        for value in _flat(forward(*inputs)):
            assert value.dtype == bool or np.isfinite(value.astype("float32")).all(), layer.name
    finally:
        keras.config.set_dtype_policy(previous)
