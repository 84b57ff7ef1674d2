"""The channels-last convolution (torch's copy-free path) against a numpy loop reference."""

import numpy as np
import pytest
from keras import ops

from dove_keras.models.channels_last_conv import conv_channels_last


def reference_conv(x, kernel, stride, padding, dilation):
    """Direct NHWC convolution with Keras' (TensorFlow's) "same" padding."""
    (kh, kw, _, c_out), (n, h, w, _) = kernel.shape, x.shape
    span_h, span_w = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
    if padding == "same":
        out_h, out_w = -(-h // stride), -(-w // stride)
        pad_h = max((out_h - 1) * stride + span_h - h, 0)
        pad_w = max((out_w - 1) * stride + span_w - w, 0)
        x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    out_h, out_w = (x.shape[1] - span_h) // stride + 1, (x.shape[2] - span_w) // stride + 1
    out = np.zeros((n, out_h, out_w, c_out))
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                for b in range(kw):
                    pixel = x[:, i * stride + a * dilation, j * stride + b * dilation, :]
                    out[:, i, j, :] += pixel @ kernel[a, b]
    return out


@pytest.mark.parametrize(
    "kernel_size, stride, padding, dilation",
    [
        (3, 2, "valid", 1),  # ResNet's strided convolutions (after explicit zero padding)
        (3, 1, "same", 1),
        (1, 2, "same", 1),  # a strided 1x1 shortcut
        (7, 1, "same", 1),
        (3, 1, "same", 2),
        (3, 2, "same", 1),  # uneven padding: ops.conv's path
    ],
)
def test_matches_the_reference(kernel_size, stride, padding, dilation):
    rng = np.random.default_rng(kernel_size * 10 + stride)
    x = rng.normal(size=(2, 9, 10, 3)).astype("float32")
    kernel = rng.normal(size=(kernel_size, kernel_size, 3, 4)).astype("float32")
    got = ops.convert_to_numpy(conv_channels_last(x, kernel, (stride, stride), padding, (dilation, dilation)))
    np.testing.assert_allclose(got, reference_conv(x, kernel, stride, padding, dilation), rtol=1e-4, atol=1e-4)
