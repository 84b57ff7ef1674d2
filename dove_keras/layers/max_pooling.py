"""Max pooling whose gradient is window slices and compares, not select-and-scatter."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dove_keras")
class SlicedMaxPooling2D(keras.layers.MaxPooling2D):
    """`MaxPooling2D` ("valid", channels last) with the same outputs and gradient.

    The output is the sum over the window offsets of the input slice at that
    offset, kept where it is the window's first maximum (row-major order):
    exactly the max, and the gradient goes to that first maximum as
    `MaxPooling2D`'s does. XLA on CPU rewrites the select-and-scatter of
    `MaxPooling2D`'s gradient into an argmax over index tensors of the whole
    input (3x the ResNet stem pool's own time on JAX); strided slices and
    their padded transposes cost a fraction of that.
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)
        if self.padding != "valid" or self.data_format != "channels_last":
            raise ValueError(
                "SlicedMaxPooling2D supports padding='valid' and channels_last, got "
                f"padding={self.padding!r}, data_format={self.data_format!r}."
            )

    def call(self, inputs):
        maxima = ops.stop_gradient(super().call(inputs))
        (pool_rows, pool_columns), (stride_rows, stride_columns) = self.pool_size, self.strides
        rows, columns = maxima.shape[1], maxima.shape[2]
        outputs, taken = ops.zeros_like(maxima), ops.zeros_like(maxima, dtype="bool")
        for i in range(pool_rows):
            for j in range(pool_columns):
                window = inputs[
                    :,
                    i : i + stride_rows * (rows - 1) + 1 : stride_rows,
                    j : j + stride_columns * (columns - 1) + 1 : stride_columns,
                ]
                first = ops.logical_and(ops.equal(ops.stop_gradient(window), maxima), ops.logical_not(taken))
                taken = ops.logical_or(taken, first)
                outputs = outputs + ops.where(first, window, ops.zeros_like(window))
        return outputs
