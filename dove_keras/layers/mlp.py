"""The two-layer perceptron used by every embedding head."""

import keras


@keras.saving.register_keras_serializable(package="dove_keras")
class MLP(keras.layers.Layer):
    """Dense(hidden, relu) -> Dropout -> Dense(output).

    Args:
        hidden_dim: width of the hidden layer.
        output_dim: width of the output.
        dropout: dropout rate between the two layers (0 disables it).
    """

    def __init__(self, hidden_dim, output_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.output_dim = output_dim
        self.dropout = dropout
        self.hidden = keras.layers.Dense(
            hidden_dim, activation="relu", dtype=self.dtype_policy, name="hidden"
        )
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.output_dense = keras.layers.Dense(
            output_dim, dtype=self.dtype_policy, name="output"
        )

    def build(self, input_shape):
        self.hidden.build(input_shape)
        hidden_shape = tuple(input_shape[:-1]) + (self.hidden_dim,)
        self.output_dense.build(hidden_shape)

    def call(self, inputs, training=None):
        x = self.hidden(inputs)
        x = self.dropout_layer(x, training=training)
        return self.output_dense(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            output_dim=self.output_dim,
            dropout=self.dropout,
        )
        return config
