"""A channels-last 2D convolution without layout copies on torch."""

import keras
from keras import ops


def conv_channels_last(inputs, kernel, strides, padding, dilation_rate):
    """`ops.conv(inputs, kernel, ...)` on channels-last `(batch, H, W, C)` inputs.

    Keras' torch convolution copies the activations to channels-first and
    back to torch's channels-last memory format around every call (two full
    copies in, one out: 42 % of a ResNet-50 forward on CPU). A permuted
    channels-last tensor already is a channels-first tensor in channels-last
    memory, which oneDNN convolves as is; torch takes that path when the
    padding is symmetric ("valid", or "same" for a 1x1 kernel or at stride
    1 with an odd kernel). Every other case, and every other backend, is
    `ops.conv`.

    Args:
        inputs: `(batch, H, W, C_in)`.
        kernel: `(kh, kw, C_in, C_out)`.
        strides, padding, dilation_rate: as `keras.layers.Conv2D`'s.
    """
    padding_sizes = _symmetric_padding(ops.shape(kernel)[:2], strides, padding, dilation_rate)
    if keras.backend.backend() != "torch" or padding_sizes is None:
        return ops.conv(inputs, kernel, strides, padding, "channels_last", dilation_rate)
    import torch

    inputs, kernel = ops.convert_to_tensor(inputs), ops.convert_to_tensor(kernel)
    channels_first = inputs.permute(0, 3, 1, 2)  # a view: channels-last memory
    weights = kernel.permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
    outputs = torch.nn.functional.conv2d(
        channels_first, weights, stride=strides, padding=padding_sizes, dilation=dilation_rate
    )
    return outputs.permute(0, 2, 3, 1)


def _symmetric_padding(kernel_size, strides, padding, dilation_rate):
    """Per-side padding `(ph, pw)` of a convolution padded evenly, else None."""
    if padding == "valid":
        return (0, 0)
    sizes = []
    for size, stride, dilation in zip(kernel_size, strides, dilation_rate):
        if size == 1:
            sizes.append(0)
        elif stride == 1 and size % 2:
            sizes.append(dilation * (size - 1) // 2)
        else:
            return None
    return tuple(sizes)
