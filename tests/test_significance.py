"""Acceptance of calibrated significance on simulated truth (tests/significance_truth.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kstest

from tests.significance_truth import FDR_LEVEL, Outcome, run_seed

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Outcome]:
    root = tmp_path_factory.mktemp("significance")
    return {seed: run_seed(seed, root / str(seed)) for seed in SEEDS}


def test_sites_are_sparse_and_controls_plentiful(outcomes: dict[int, Outcome]) -> None:
    for outcome in outcomes.values():
        assert outcome.site_fraction <= 0.02
        assert len(outcome.control_p) >= 2000


def test_motif_destroying_snvs_are_significant_in_their_task(outcomes) -> None:
    for seed, outcome in outcomes.items():
        assert np.mean(outcome.destroying_p < 0.01) >= 0.9, (seed, outcome.summary())


def test_control_p_values_are_uniform_in_every_task(outcomes) -> None:
    for seed, outcome in outcomes.items():
        for task in outcome.control_p.columns:
            result = kstest(outcome.control_p[task].to_numpy(), "uniform")
            assert result.pvalue > 0.01, (seed, task, result)


def test_q_controls_the_false_discovery_rate(outcomes) -> None:
    summaries = [outcome.summary() for outcome in outcomes.values()]
    assert np.mean([s["realised_fdr"] for s in summaries]) <= FDR_LEVEL, summaries
    # not a vacuous FDR (no discoveries): a good share of destroying SNVs is found
    assert np.mean([s["power"] for s in summaries]) > 0.3, summaries
    for outcome in outcomes.values():
        assert abs(np.mean(outcome.mix_truth) - 0.1) < 0.01
