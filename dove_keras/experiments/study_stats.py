"""Statistics of a study: mean ± std over seeds and the paired t-test against a reference.

The t-test's p-value comes from the exact Student t distribution for an
integer number of degrees of freedom (Abramowitz & Stegun 26.7.3-4), so the
package needs no SciPy; the tests compare it with `scipy.stats.ttest_rel`.
"""

import math

import numpy as np
import pandas as pd

from dove_keras.reports.tables import RECALL_COLUMNS


def paired_t_test(values, reference):
    """Two-sided paired t-test of `values - reference` (one pair per seed).

    Args:
        values, reference: equal-length sequences, paired by position.

    Returns:
        `(mean difference, t, p)`; t and p are NaN with fewer than 2 pairs
        or when every difference is 0, and t is ±inf (p 0) when every
        difference is the same non-zero value.
    """
    differences = np.asarray(values, float) - np.asarray(reference, float)
    n = differences.size
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(differences.mean())
    if n < 2:
        return mean, math.nan, math.nan
    spread = float(differences.std(ddof=1))
    if spread == 0:
        return (mean, math.nan, math.nan) if mean == 0 else (mean, math.copysign(math.inf, mean), 0.0)
    t = mean / (spread / math.sqrt(n))
    return mean, t, t_two_sided_p(t, n - 1)


def t_two_sided_p(t, df):
    """P(|T| >= |t|) for Student's t with an integer `df` >= 1 (exact series)."""
    theta = math.atan(abs(t) / math.sqrt(df))
    c, s = math.cos(theta), math.sin(theta)
    if df % 2:  # odd: 2/pi [theta + sin(theta) (cos + 2/3 cos^3 + ... + cos^(df-2))]
        term = total = c if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):
            term *= c * c * (2 * k) / (2 * k + 1)
            total += term
        inside = 2 / math.pi * (theta + s * total)
    else:  # even: sin(theta) (1 + 1/2 cos^2 + ... + cos^(df-2))
        term = total = 1.0
        for k in range(1, df // 2):
            term *= c * c * (2 * k - 1) / (2 * k)
            total += term
        inside = s * total
    return min(1.0, max(0.0, 1.0 - inside))


def summarize(runs, label, reference):
    """Per label: seeds, mean and std of every recall and mR, the paired mR test against `reference`.

    Args:
        runs: one row per run with the `label` column, `seed` and the
            recall columns (`dove_keras.reports.tables.RECALL_COLUMNS`).
        label: the column naming the variant (or the swept value).
        reference: the label the others are compared with (paired by seed).

    Returns:
        A DataFrame in the order of first appearance: `label`, `seeds`,
        `{recall}_mean` / `{recall}_std` (std with ddof 1; NaN for one seed),
        `mR_diff` (mean over the seeds both have of label - reference),
        `pairs`, `t`, `p`.
    """
    base = runs[runs[label] == reference].set_index("seed")["mR"]
    rows = []
    for name, group in runs.groupby(label, sort=False):
        row = {label: name, "seeds": len(group)}
        for column in RECALL_COLUMNS:
            row[f"{column}_mean"] = group[column].mean()
            row[f"{column}_std"] = group[column].std(ddof=1) if len(group) > 1 else math.nan
        paired = group.set_index("seed")["mR"]
        seeds = [seed for seed in paired.index if seed in base.index]
        diff, t, p = paired_t_test(paired[seeds].to_numpy(), base[seeds].to_numpy())
        row.update({"mR_diff": diff, "pairs": len(seeds), "t": t, "p": p})
        rows.append(row)
    return pd.DataFrame(rows)
