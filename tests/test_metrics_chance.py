"""Chance-level recalls against the protocol's recalls of random score matrices."""

import numpy as np
import pytest

from dove_keras.evaluation import retrieval_recalls
from dove_keras.evaluation.chance import chance_recalls

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("num_images, captions_per_image", [(20, 5), (3, 5), (7, 2)])
def test_chance_equals_the_mean_recall_of_random_scores(num_images, captions_per_image):
    rng = np.random.default_rng(0)
    trials = 3000
    shape = (num_images, captions_per_image * num_images)
    observed = [retrieval_recalls(rng.random(shape), captions_per_image) for _ in range(trials)]
    expected = chance_recalls(num_images, captions_per_image)
    assert list(expected) == list(observed[0])
    for key, value in expected.items():
        mean = np.mean([recalls[key] for recalls in observed])
        # 4 standard errors of a mean of trials x num_images Bernoulli draws, in percent.
        tolerance = 4 * 50 / np.sqrt(trials * num_images)
        assert mean == pytest.approx(value, abs=tolerance), key


def test_chance_known_values():
    recalls = chance_recalls(200)
    assert recalls["t2i_r1"] == pytest.approx(0.5)
    assert recalls["t2i_r10"] == pytest.approx(5.0)
    assert recalls["i2t_r1"] == pytest.approx(0.5)  # 5 right captions of 1000
    missed = np.prod([(995 - i) / (1000 - i) for i in range(5)])  # 5 draws, all wrong
    assert recalls["i2t_r5"] == pytest.approx(100 * (1 - missed))
    one = chance_recalls(1)  # a single image is always retrieved
    assert all(value == pytest.approx(100.0) for value in one.values())


@pytest.mark.parametrize(
    "kwargs", [dict(num_images=0), dict(num_images=2.5), dict(num_images=4, ks=(0,))]
)
def test_chance_rejects_bad_counts(kwargs):
    with pytest.raises(ValueError, match="positive integer"):
        chance_recalls(**kwargs)
