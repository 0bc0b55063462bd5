"""Paired statistics of a comparison: per pair of candidates and metric with a direction, a verdict.

For each item both candidates were scored on, the paired difference `a - b`; its mean with a seeded percentile
bootstrap 95% confidence interval (scipy.stats.bootstrap), the two-sided Wilcoxon signed-rank p-value
(scipy.stats.wilcoxon) and win counts. A candidate is called better only when there are at least `MIN_ITEMS` items,
p < `ALPHA`, and the confidence interval excludes 0 on the side of the mean difference.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import bootstrap, wilcoxon

__all__ = ["ALPHA", "MIN_ITEMS", "Verdict", "paired_verdict", "verdicts"]

ALPHA = 0.05
# Below 6 pairs even a unanimous result cannot reach p < 0.05 in an exact two-sided Wilcoxon test (2/32 at n = 5).
MIN_ITEMS = 6
BOOTSTRAP_RESAMPLES = 9999


@dataclass(frozen=True)
class Verdict:
    """One pair of candidates on one metric (the `verdicts` entries of report.json, plus win counts).

    Attributes:
        metric: Metric name.
        a: First candidate; `mean_difference` is `a - b`.
        b: Second candidate.
        mean_difference: Mean over items of `a - b` (NaN when no item has both values).
        ci_low: Lower end of the bootstrap 95% interval of the mean difference (None below 2 items).
        ci_high: Upper end (None below 2 items).
        p_value: Two-sided Wilcoxon signed-rank p-value (1.0 when every difference is 0; None without items).
        n: Items with both values.
        better: The better candidate, or None when the difference is not significant or `n < MIN_ITEMS`.
        a_wins: Items where `a` is strictly better.
        b_wins: Items where `b` is strictly better.
    """

    metric: str
    a: str
    b: str
    mean_difference: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    better: str | None
    a_wins: int
    b_wins: int

    def to_dict(self) -> dict:
        """The report.json entry: exactly metric, a, b, mean_difference, ci_low, ci_high, p_value, n, better."""
        record = asdict(self)
        del record["a_wins"], record["b_wins"]
        return record


def paired_verdict(
    metric: str,
    a: str,
    b: str,
    a_values: Sequence[float],
    b_values: Sequence[float],
    higher_is_better: bool,
    seed: int = 0,
) -> Verdict:
    """The verdict of `a` against `b` on one metric from their per-item values (NaN pairs are left out).

    Args:
        metric: Metric name.
        a: First candidate's name.
        b: Second candidate's name.
        a_values: Shape `(N,)`, one value per item.
        b_values: Shape `(N,)`, the same items.
        higher_is_better: The metric's direction.
        seed: Bootstrap seed (the same seed gives the same interval).

    Raises:
        ValueError: The two value lists differ in length.
    """
    a_values, b_values = np.asarray(a_values, dtype=np.float64), np.asarray(b_values, dtype=np.float64)
    if a_values.shape != b_values.shape or a_values.ndim != 1:
        raise ValueError(f"expected two value lists of the same shape (N,), got {a_values.shape} and {b_values.shape}")
    keep = np.isfinite(a_values) & np.isfinite(b_values)
    differences = a_values[keep] - b_values[keep]
    n = int(differences.size)
    sign = 1.0 if higher_is_better else -1.0
    a_wins, b_wins = int(np.sum(sign * differences > 0)), int(np.sum(sign * differences < 0))
    mean = float(np.mean(differences)) if n else float("nan")
    ci_low = ci_high = None
    if n >= 2:
        if np.all(differences == differences[0]):  # a degenerate bootstrap: every resample has this mean
            ci_low = ci_high = float(differences[0])
        else:
            interval = bootstrap(
                (differences,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile", rng=seed
            ).confidence_interval
            ci_low, ci_high = float(interval.low), float(interval.high)
    p_value = None
    if n:
        p_value = 1.0 if not np.any(differences) else float(wilcoxon(differences).pvalue)
    better = None
    if n >= MIN_ITEMS and p_value is not None and p_value < ALPHA and ci_low is not None:
        if ci_low > 0 or ci_high < 0:  # the interval excludes 0 on the side of the mean
            better = a if sign * mean > 0 else b
    return Verdict(metric, a, b, mean, ci_low, ci_high, p_value, n, better, a_wins, b_wins)


def verdicts(
    candidates: Sequence[str], values: dict[str, dict[str, Sequence[float]]], directions: dict[str, bool], seed: int = 0
) -> list[Verdict]:
    """Every pair of `candidates` (in their order) on every metric of `directions`.

    Args:
        candidates: Candidate names.
        values: Candidate -> metric -> per-item values of shape `(N,)`.
        directions: Metric -> higher_is_better, for the metrics with a direction.
        seed: Bootstrap seed.
    """
    return [
        paired_verdict(metric, a, b, values[a][metric], values[b][metric], higher, seed=seed)
        for a, b in itertools.combinations(candidates, 2)
        for metric, higher in directions.items()
    ]
