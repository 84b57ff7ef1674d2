"""Inference through a functional model with BatchNormalization folded into its convolutions."""

import keras
from keras import ops
from keras.src.models.functional import operation_fn as call_with_context
from keras.src.models.functional import unpack_singleton

from dove_keras.models.channels_last_conv import conv_channels_last


class BatchNormFolding:
    """Runs a functional model in inference with every `Conv2D -> BatchNormalization` fused.

    In inference BatchNormalization is affine, so a convolution followed by it
    is one convolution: `BN(conv(x, K)) = conv(x, K s) + (beta - mean s)` with
    `s = gamma / sqrt(variance + epsilon)` per output channel. The frozen
    ResNet's 53 (ResNet-50) BatchNormalization passes disappear, and with
    them, under a mixed policy, the casts to float32 and back around each.
    The folded kernels are computed from the variables at every call (a
    kernel-sized product), so the result follows any change of the weights.

    Only pairs where the convolution's output feeds the normalisation alone
    (no other layer nor the model's outputs), channels-last, without activation or groups, are
    folded; every other layer runs as usual with `training=False`.
    This walks the model's graph with Keras' own `Functional._run_through_graph`
    (the project pins its Keras version).

    Args:
        model: a functional `keras.Model`, e.g. a keras-hub ResNet.
    """

    def __init__(self, model):
        self.model = model
        self.normalization_of = {}  # id(conv) -> its BatchNormalization
        self.folded = set()  # ids of the BatchNormalization layers folded away
        consumers = {}
        for nodes in model._nodes_by_depth.values():
            for node in nodes:
                for tensor in node.input_tensors:
                    consumers.setdefault(id(tensor), []).append(node.operation)
        for tensor in model.outputs:
            consumers.setdefault(id(tensor), []).append(model)
        for nodes in model._nodes_by_depth.values():
            for node in nodes:
                norm = node.operation
                if not isinstance(norm, keras.layers.BatchNormalization) or len(node.input_tensors) != 1:
                    continue
                tensor = node.input_tensors[0]
                conv = tensor._keras_history.operation
                if _foldable(conv, norm) and consumers[id(tensor)] == [norm]:
                    self.normalization_of[id(conv)] = norm
                    self.folded.add(id(norm))

    @property
    def num_folded(self):
        """How many BatchNormalization layers are folded into a convolution."""
        return len(self.folded)

    def __call__(self, inputs):
        """The model's outputs for `inputs` in inference (`training=False`), as `model(inputs)`."""
        return unpack_singleton(self.model._run_through_graph(inputs, operation_fn=self._operation))

    def _operation(self, operation):
        if id(operation) in self.folded:
            return _identity
        norm = self.normalization_of.get(id(operation))
        if norm is None:
            return call_with_context(operation, training=False)
        return lambda inputs, **kwargs: folded_convolution(operation, norm, inputs)


def folded_convolution(conv, norm, inputs):
    """`norm(conv(inputs))` in inference, as one convolution with a bias."""
    scale = ops.rsqrt(norm.moving_variance + norm.epsilon)
    if norm.gamma is not None:
        scale = scale * norm.gamma
    bias = -norm.moving_mean * scale
    if norm.beta is not None:
        bias = bias + norm.beta
    if conv.use_bias:
        bias = bias + conv.bias * scale
    dtype = conv.compute_dtype
    kernel = ops.cast(conv.kernel * scale, dtype)
    outputs = conv_channels_last(ops.cast(inputs, dtype), kernel, conv.strides, conv.padding, conv.dilation_rate)
    return outputs + ops.cast(bias, dtype)


def _foldable(conv, norm):
    return (
        isinstance(conv, keras.layers.Conv2D)
        and conv.data_format == "channels_last"
        and conv.groups == 1
        and conv.activation is keras.activations.linear
        and norm.axis in (-1, 3)
    )


def _identity(inputs, **kwargs):
    return inputs
