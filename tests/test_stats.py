"""Paired statistics against scipy on fixed data: a significant case, no difference, n < 6, both directions."""

import numpy as np
import pytest
from scipy.stats import bootstrap, wilcoxon

from pipelines.compare.report import verdict_sentence
from pipelines.compare.scoring import Comparison, ComparisonItem
from pipelines.compare.stats import paired_verdict

A = [3.1, 3.4, 2.9, 3.6, 3.3, 3.0, 3.5, 3.2, 3.8, 3.1]
B_WORSE = [2.8, 3.0, 2.7, 3.1, 3.2, 2.6, 3.0, 3.1, 3.3, 2.9]  # every item lower
B_SAME = [3.2, 3.3, 3.0, 3.5, 3.4, 2.9, 3.6, 3.1, 3.7, 3.2]  # +-0.1 around A


def test_significant_difference_matches_scipy_and_names_the_better():
    verdict = paired_verdict("dnsmos_ovrl", "vocos", "encodec", A, B_WORSE, higher_is_better=True, seed=7)
    differences = np.subtract(A, B_WORSE)
    assert verdict.n == 10 and verdict.mean_difference == pytest.approx(differences.mean())
    assert verdict.p_value == pytest.approx(wilcoxon(differences).pvalue) and verdict.p_value < 0.01
    interval = bootstrap((differences,), np.mean, n_resamples=9999, method="percentile", rng=7).confidence_interval
    assert (verdict.ci_low, verdict.ci_high) == pytest.approx((interval.low, interval.high))
    assert 0 < verdict.ci_low < verdict.mean_difference < verdict.ci_high
    assert verdict.better == "vocos" and (verdict.a_wins, verdict.b_wins) == (10, 0)
    assert paired_verdict("dnsmos_ovrl", "vocos", "encodec", A, B_WORSE, True, seed=7) == verdict  # seeded
    assert verdict.to_dict().keys() == {
        "metric",
        "a",
        "b",
        "mean_difference",
        "ci_low",
        "ci_high",
        "p_value",
        "n",
        "better",
    }
    sentence = verdict_sentence(verdict)
    assert sentence.startswith("vocos is better than encodec on DNSMOS overall (P.835): +0.")
    assert "better on 10 of 10 items" in sentence


def test_lower_is_better_turns_the_verdict_around():
    verdict = paired_verdict("mel", "vocos", "encodec", A, B_WORSE, higher_is_better=False)
    assert verdict.better == "encodec" and (verdict.a_wins, verdict.b_wins) == (0, 10)
    assert verdict_sentence(verdict).startswith("encodec is better than vocos on mel distance: -0.")


def test_no_significant_difference():
    verdict = paired_verdict("dnsmos_ovrl", "a", "b", A, B_SAME, higher_is_better=True)
    differences = np.subtract(A, B_SAME)
    assert verdict.p_value == pytest.approx(wilcoxon(differences).pvalue) and verdict.p_value > 0.05
    assert verdict.ci_low < 0 < verdict.ci_high and verdict.better is None
    assert "no significant difference" in verdict_sentence(verdict)


def test_fewer_than_six_items_is_said_and_never_a_winner():
    verdict = paired_verdict("dnsmos_ovrl", "a", "b", A[:5], B_WORSE[:5], higher_is_better=True)
    assert verdict.n == 5 and verdict.better is None
    assert verdict.p_value == pytest.approx(wilcoxon(np.subtract(A[:5], B_WORSE[:5])).pvalue)  # 2/32 at best
    assert "too few items for a test (n = 5 < 6)" in verdict_sentence(verdict)


def test_not_scored_items_are_left_out_and_all_equal_is_no_difference():
    verdict = paired_verdict("pesq", "a", "b", [1.0, float("nan"), 2.0], [1.0, 1.0, 2.0], higher_is_better=True)
    assert verdict.n == 2 and verdict.p_value == 1.0 and verdict.ci_low == verdict.ci_high == 0.0
    with pytest.raises(ValueError, match="same shape"):
        paired_verdict("pesq", "a", "b", [1.0], [1.0, 2.0], higher_is_better=True)


def test_comparison_lists_a_verdict_per_pair_and_metric():
    items = [
        ComparisonItem(
            f"t{i}",
            {},
            {"x": {"clipping_fraction": 0.0, "rms_dbfs": a}, "y": {"clipping_fraction": 0.1, "rms_dbfs": b}},
        )
        for i, (a, b) in enumerate(zip(A, B_WORSE, strict=True))
    ]
    comparison = Comparison("text", 24000, ["x", "y"], ["clipping_fraction", "rms_dbfs"], items)
    (verdict,) = comparison.verdicts()  # rms_dbfs has no direction: no verdict
    assert verdict.metric == "clipping_fraction" and verdict.better == "x" and verdict.n == 10
    assert comparison.to_dict()["verdicts"] == [verdict.to_dict()]
