import numpy as np
import pytest
from keras import ops

from dove_keras.layers.masking import masked_mean
from dove_keras.layers.masking import masked_softmax


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_fully_masked_rows_stay_finite(dtype):
    logits = ops.convert_to_tensor(np.random.randn(3, 5).astype(dtype))
    mask = np.array([[True] * 5, [False] * 5, [True, False, True, False, False]])
    out = ops.convert_to_numpy(masked_softmax(logits, mask)).astype("float32")
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-3)
    assert np.all(out[2, [1, 3, 4]] == 0)


def test_masked_softmax_matches_softmax_of_real_entries():
    logits = np.random.randn(4, 6).astype("float32")
    mask = np.random.rand(4, 6) > 0.4
    mask[:, 0] = True
    out = ops.convert_to_numpy(masked_softmax(ops.convert_to_tensor(logits), mask))
    for row in range(4):
        real = np.exp(logits[row][mask[row]] - logits[row][mask[row]].max())
        np.testing.assert_allclose(out[row][mask[row]], real / real.sum(), rtol=1e-5)


def test_masked_mean_counts_real_positions_and_survives_empty():
    values = np.random.randn(3, 4, 2).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], bool)
    out = ops.convert_to_numpy(masked_mean(ops.convert_to_tensor(values), mask, axis=1))
    np.testing.assert_allclose(out[0], values[0, :2].mean(0), rtol=1e-5)
    np.testing.assert_allclose(out[1], values[1].mean(0), rtol=1e-5)
    np.testing.assert_array_equal(out[2], 0.0)
