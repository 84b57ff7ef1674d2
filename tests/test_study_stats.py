"""Study statistics: the paired t-test against SciPy, mean ± std and pairing by seed against numpy."""

import math

import numpy as np
import pandas as pd
import pytest

from dove_keras.experiments.study_stats import paired_t_test
from dove_keras.experiments.study_stats import summarize
from dove_keras.experiments.study_stats import t_two_sided_p
from dove_keras.reports.tables import RECALL_COLUMNS

pytestmark = pytest.mark.backend_independent

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 6, 9, 12, 29])
def test_t_p_value_matches_scipy(df):
    for t in (0.0, 0.3, -1.1, 2.5, 4.0, -12.0):
        assert t_two_sided_p(t, df) == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-9, abs=1e-12), t


@pytest.mark.parametrize("n", [2, 3, 4, 7])
def test_paired_t_test_matches_scipy_ttest_rel(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        a, b = rng.normal(50, 3, n), rng.normal(49, 3, n)
        diff, t, p = paired_t_test(a, b)
        expected = stats.ttest_rel(a, b)
        assert diff == pytest.approx(np.mean(a - b))
        assert t == pytest.approx(expected.statistic, rel=1e-9)
        assert p == pytest.approx(expected.pvalue, rel=1e-7)


def test_paired_t_test_degenerate_cases():
    assert math.isnan(paired_t_test([1.0], [0.5])[2]) and paired_t_test([1.0], [0.5])[0] == 0.5
    assert all(math.isnan(v) for v in paired_t_test([1.0, 2.0], [1.0, 2.0])[1:])  # no difference at all
    assert paired_t_test([2.0, 3.0], [1.0, 2.0])[1:] == (math.inf, 0.0)  # the same difference every seed


def test_summary_means_stds_and_pairs_by_seed():
    rng = np.random.default_rng(0)
    rows = []
    for variant, seeds in (("dove", [0, 1, 2]), ("no_roam", [2, 0, 1]), ("dual_encoder", [0, 1])):
        for seed in seeds:
            rows.append({"variant": variant, "seed": seed, **dict(zip(RECALL_COLUMNS, rng.uniform(0, 100, 7)))})
    runs = pd.DataFrame(rows)
    summary = summarize(runs, "variant", "dove").set_index("variant")
    assert list(summary.index) == ["dove", "no_roam", "dual_encoder"]
    for variant, group in runs.groupby("variant"):
        for column in RECALL_COLUMNS:
            values = group[column].to_numpy()
            assert summary.loc[variant, f"{column}_mean"] == pytest.approx(values.sum() / len(values))
            expected_std = np.sqrt(((values - values.mean()) ** 2).sum() / (len(values) - 1))
            assert summary.loc[variant, f"{column}_std"] == pytest.approx(expected_std)
    dove = runs[runs.variant == "dove"].set_index("seed")["mR"]
    for variant, seeds in (("no_roam", [0, 1, 2]), ("dual_encoder", [0, 1])):
        other = runs[runs.variant == variant].set_index("seed")["mR"]
        expected = stats.ttest_rel(other[seeds].to_numpy(), dove[seeds].to_numpy())
        assert summary.loc[variant, "pairs"] == len(seeds)
        assert summary.loc[variant, "mR_diff"] == pytest.approx((other[seeds] - dove[seeds]).mean())
        assert summary.loc[variant, "p"] == pytest.approx(expected.pvalue, rel=1e-7)
    assert math.isnan(summary.loc["dove", "p"]) and summary.loc["dove", "mR_diff"] == 0
