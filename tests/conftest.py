"""Shared fixtures: small models, the bundled real-sequence genome, example VCF."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tbvar.checkpoint import ModelInfo, save_model
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.tasks import generic_tasks

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
EXAMPLE_GENOME = EXAMPLES / "hg19_chr17_region_padded.fa.gz"
EXAMPLE_VCF = EXAMPLES / "variants.vcf"
#: 1-based inclusive span of real hg19 sequence in the example genome (N before it).
REAL_START, REAL_END = 7_512_445, 7_531_642

# Small models in tests run one sequence at a time in places; with one intra-op thread that is
# ~10x faster on a 2-core machine than with a thread pool, and results are reproducible.
torch.set_num_threads(1)

SMALL_CONFIG = TBiNetConfig(n_kernels=16, kernel_width=26, pool_size=13, lstm_units=8,
                            dense_units=16, n_tasks=5)


def make_model(config: TBiNetConfig = SMALL_CONFIG, seed: int = 0) -> TBiNet:
    """A random-weight model with non-trivial biases (so errors in bias handling show)."""
    torch.manual_seed(seed)
    model = TBiNet(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias") or "bias_ih" in name:
                param.normal_(0, 0.3)
    return model.eval()


@pytest.fixture(scope="session")
def small_model() -> TBiNet:
    return make_model()


@pytest.fixture(scope="session")
def small_model_file(tmp_path_factory: pytest.TempPathFactory, small_model: TBiNet) -> Path:
    path = tmp_path_factory.mktemp("models") / "small.safetensors"
    info = ModelInfo(config=small_model.config, tasks=generic_tasks(5), genome_build="hg19",
                     description="test model", random_weights=True)
    save_model(small_model, path, info)
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                   ) -> None:
    """Keep encoded genomes and downloads out of the user's cache."""
    monkeypatch.setenv("TBVAR_CACHE", str(tmp_path_factory.getbasetemp() / "tbvar-cache"))


RUN_SUFFIXES = (".tsv", ".tsv.gz", ".parquet", ".vcf", ".vcf.gz")


@pytest.fixture(scope="session")
def example_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The README example run (example model and background, ``--scores lod,p``) written to
    every text and table format, keyed by suffix (each with its ``OUT.summary.json``)."""
    import tbvar

    root = tmp_path_factory.mktemp("example-runs")
    runs = {}
    for suffix in RUN_SUFFIXES:
        runs[suffix] = root / f"example{suffix}"
        tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, EXAMPLES / "model.safetensors",
                        output=runs[suffix], scores=("lod", "p"), progress=False,
                        background=EXAMPLES / "background.safetensors",
                        command="tbvar score (test example)")
    return runs
