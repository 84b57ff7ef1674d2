"""The retrieval recalls against a plain loop version of the protocol."""

import numpy as np
import pytest

from dove_keras.evaluation import ranks as rank_maths
from dove_keras.evaluation import retrieval_ranks
from dove_keras.evaluation import retrieval_recalls

pytestmark = pytest.mark.backend_independent


def loop_reference(similarity, captions_per_image=5, ks=(1, 5, 10)):
    """DESIGN section 3, one query at a time; rank = strictly higher scores."""
    similarity = np.asarray(similarity, dtype=np.float32)
    num_images, num_captions = similarity.shape
    image_ranks = []
    for i in range(num_images):
        best = num_captions
        for j in range(captions_per_image * i, captions_per_image * (i + 1)):
            rank = sum(1 for c in range(num_captions) if similarity[i, c] > similarity[i, j])
            best = min(best, rank)
        image_ranks.append(best)
    caption_ranks = []
    for j in range(num_captions):
        true_image = j // captions_per_image
        rank = sum(1 for i in range(num_images) if similarity[i, j] > similarity[true_image, j])
        caption_ranks.append(rank)
    recalls = {}
    for name, ranks in (("i2t", image_ranks), ("t2i", caption_ranks)):
        for k in ks:
            recalls[f"{name}_r{k}"] = 100.0 * sum(r < k for r in ranks) / len(ranks)
    recalls["mR"] = sum(recalls.values()) / len(recalls)
    return recalls, image_ranks, caption_ranks


def _random_matrices():
    rng = np.random.default_rng(0)
    yield "uniform", rng.random((13, 65)), 5
    # Integer scores: many ties, which must count for the query.
    yield "ties", rng.integers(0, 4, size=(17, 85)).astype(np.float32), 5
    yield "all equal", np.zeros((6, 30)), 5
    # Positives boosted: mostly-right retrieval with some mistakes.
    boosted = rng.normal(size=(15, 75))
    boosted[np.arange(75) // 5, np.arange(75)] += 1.5
    yield "mostly right", boosted, 5
    yield "two captions per image", rng.integers(0, 3, size=(9, 18)), 2


@pytest.mark.parametrize("name, similarity, captions_per_image", list(_random_matrices()))
def test_recalls_equal_loop_reference(name, similarity, captions_per_image):
    expected, image_ranks, caption_ranks = loop_reference(similarity, captions_per_image)
    got = retrieval_recalls(similarity, captions_per_image)
    assert list(got) == ["i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "mR"]
    assert got == pytest.approx(expected, abs=1e-9)
    got_images, got_captions = retrieval_ranks(similarity, captions_per_image)
    np.testing.assert_array_equal(got_images, image_ranks)
    np.testing.assert_array_equal(got_captions, caption_ranks)


def test_chunked_rows_give_the_same_ranks(monkeypatch):
    similarity = np.random.default_rng(1).integers(0, 5, size=(23, 115)).astype(np.float32)
    whole = retrieval_ranks(similarity)
    monkeypatch.setattr(rank_maths, "_CELLS_PER_CHUNK", 3 * 115 + 1)  # 3 rows per chunk
    chunked = retrieval_ranks(similarity)
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_array_equal(whole[1], chunked[1])
    assert whole[1].max() > 0 and whole[0].max() > 0


def test_ties_count_for_the_query():
    # Every score equal: every true match is at rank 0, all recalls 100.
    assert retrieval_recalls(np.ones((4, 20)))["mR"] == 100.0
    # Image 0: its best caption (col 1) ties with a foreign caption (col 7) -> rank 0;
    # one foreign score above it would give rank 1.
    similarity = np.zeros((2, 10), dtype=np.float32)
    similarity[0, 1] = similarity[0, 7] = 0.5
    ranks, _ = retrieval_ranks(similarity)
    assert ranks[0] == 0
    similarity[0, 8] = 0.6
    ranks, _ = retrieval_ranks(similarity)
    assert ranks[0] == 1


def test_scores_compare_in_float32():
    similarity = np.zeros((2, 10), dtype=np.float64)
    similarity[0, :5] = 1.0
    similarity[0, 5] = 1.0 + 1e-12  # equal to 1.0 in float32: a tie, not a win
    ranks, _ = retrieval_ranks(similarity)
    assert ranks[0] == 0


def test_known_values_and_custom_ks():
    # Image 1's captions score best on image 0: image 1 is at rank 1 for them.
    similarity = np.zeros((2, 10), dtype=np.float32)
    similarity[0, :] = 1.0
    similarity[1, 5:] = 0.5
    recalls = retrieval_recalls(similarity, ks=(1, 2))
    # i2t: image 0 rank 0; image 1 best positive 0.5, nothing higher -> rank 0.
    assert recalls["i2t_r1"] == 100.0
    # t2i: captions 0-4 rank 0; captions 5-9 have image 0 above -> rank 1.
    assert recalls["t2i_r1"] == 50.0 and recalls["t2i_r2"] == 100.0
    assert recalls["mR"] == pytest.approx((100 + 100 + 50 + 100) / 4)


@pytest.mark.parametrize(
    "similarity, message",
    [
        (np.zeros((4, 19)), r"5 \* 4 = 20 columns.*got 19"),
        (np.zeros((4, 4)), "expected 5 captions per image"),
        (np.zeros(20), "2D"),
        (np.zeros((2, 10, 1)), "2D"),
        (np.zeros((0, 0)), "no images"),
    ],
)
def test_bad_shapes_are_clear_errors(similarity, message):
    with pytest.raises(ValueError, match=message):
        retrieval_recalls(similarity)


def test_nan_and_bad_arguments_are_clear_errors():
    similarity = np.zeros((2, 10))
    similarity[1, 3] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):
        retrieval_recalls(similarity)
    with pytest.raises(ValueError, match="ks must be positive"):
        retrieval_recalls(np.zeros((2, 10)), ks=(0, 5))
    with pytest.raises(ValueError, match="captions_per_image"):
        retrieval_recalls(np.zeros((2, 10)), captions_per_image=0)
