import numpy as np
import numpy_reference as ref
import pytest
from keras import ops

from dove_keras.models import triplet_loss


@pytest.mark.parametrize("hardest_negative", [False, True])
@pytest.mark.parametrize("image_ids", [[0, 1, 2, 3, 4, 5], [0, 0, 1, 2, 2, 2]])
def test_triplet_loss_matches_loop_reference(hardest_negative, image_ids):
    similarity = np.random.default_rng(1).uniform(-1, 1, (6, 6)).astype("float32")
    got = ops.convert_to_numpy(
        triplet_loss(ops.convert_to_tensor(similarity), np.array(image_ids), 0.2, hardest_negative)
    )
    expected = ref.triplet_loss(similarity, image_ids, 0.2, hardest_negative)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_same_image_pairs_are_not_negatives():
    similarity = np.eye(4, dtype="float32")
    similarity[0, 1] = similarity[1, 0] = 5.0  # captions 0 and 1 show one image
    loss = triplet_loss(ops.convert_to_tensor(similarity), np.array([7, 7, 8, 9]), 0.2)
    assert float(ops.convert_to_numpy(loss)) == pytest.approx(0.0)
    loss = triplet_loss(ops.convert_to_tensor(similarity), np.array([6, 7, 8, 9]), 0.2)
    assert float(ops.convert_to_numpy(loss)) > 8.0
