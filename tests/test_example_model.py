"""The bundled example model (trained by examples/train_example_model.py) on fresh data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

import tbvar
from tbvar.checkpoint import read_model_info
from tbvar_train.simulate import simulate_dataset

from .conftest import EXAMPLES

MODEL = EXAMPLES / "model.safetensors"


def test_example_model_is_trained_and_says_so() -> None:
    info = read_model_info(MODEL)
    assert not info.random_weights
    assert info.tasks["target"].tolist() == ["CTCF", "REST", "ZNF143", "ESR1"]
    assert info.provenance["example_report"]["test_mean_auroc"] >= 0.95


def test_example_model_ranks_motif_destroying_variants_first(tmp_path: Path) -> None:
    """Freshly simulated sequences (another seed than training): destroying SNVs vs controls."""
    sim = tmp_path / "sim"
    simulate_dataset(sim, n_tasks=4, n_grammar=0, n_train=10, n_valid=10, n_test=150,
                     seq_len=220, seed=99, motif_names=["CTCF", "REST", "ZNF143", "ESR1"],
                     genome_seqs=150)
    scored = tbvar.score_vcf(sim / "variants.vcf", sim / "genome.fa", MODEL, device="cpu")
    truth = pd.read_csv(sim / "variants_truth.tsv", sep="\t")
    merged = scored.merge(truth[["id", "destroys_motif"]], on="id", validate="one_to_one")
    assert (merged["status"] == "ok").all() and merged["destroys_motif"].nunique() == 2
    assert roc_auc_score(merged["destroys_motif"], merged["max_abslod"]) >= 0.9
