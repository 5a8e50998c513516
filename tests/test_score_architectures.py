"""Every trained architecture scores with ``tbvar score``: a DanQ trained by ``tbvar-train fit``
and a DeepSEA, checked against a direct forward pass on hand-cut windows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cyvcf2 import VCF

from tbvar.baselines import DeepSEA, DeepSEAConfig
from tbvar.checkpoint import ModelInfo, load_model, save_model
from tbvar.cli import main as tbvar_main
from tbvar.tasks import generic_tasks
from tbvar_train.cli import main as train_main
from tests.train_fit_data import write_shards
from tests.vcf_corpus import genome_sequences, header, snv, write_genome

CODES = {"A": 0, "G": 1, "C": 2, "T": 3}
COMPLEMENT = str.maketrans("ACGT", "TGCA")
POSITIONS = (120, 260, 333, 480, 610, 905)  # 1-based, chr1 (windows of 100 bp stay inside)


@pytest.fixture(scope="module")
def danq_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("danq")
    data = write_shards(root / "shards", n_train=200, n_valid=50, n_test=50, length=100)
    config = root / "danq.json"
    config.write_text(json.dumps({"n_kernels": 8, "kernel_width": 8, "pool_size": 4,
                                  "lstm_units": 4, "dense_units": 8}))
    assert train_main(["fit", "--data", str(data), "--out", str(root / "run"), "--arch", "danq",
                       "--epochs", "1", "--small-model-config", str(config),
                       "--no-progress"]) == 0
    return root / "run" / "model.safetensors"


@pytest.fixture(scope="module")
def deepsea_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(5)
    config = DeepSEAConfig(sequence_length=100, channels=(8, 8, 8), kernel_width=5,
                           pool_size=2, dense_units=8, n_tasks=3)
    path = tmp_path_factory.mktemp("deepsea") / "deepsea.safetensors"
    save_model(DeepSEA(config).eval(), path, ModelInfo(config=config, tasks=generic_tasks(3)))
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("inputs")
    vcf = root / "snvs.vcf"
    vcf.write_text("\n".join(header() + [snv("chr1", pos) for pos in POSITIONS]) + "\n")
    return {"vcf": vcf, "genome": write_genome(root)}


def direct_lod(model: torch.nn.Module, pos: int, alt: str) -> np.ndarray:
    """lod of one SNV from windows cut by string slicing, forward and RC, averaged."""
    length = model.config.sequence_length
    chrom = genome_sequences()["chr1"].upper()
    start = pos - 1 - length // 2
    ref_window = chrom[start:start + length]
    alt_window = ref_window[:length // 2] + alt + ref_window[length // 2 + 1:]
    probs = {}
    for name, seq in (("ref", ref_window), ("alt", alt_window)):
        both = [seq, seq.translate(COMPLEMENT)[::-1]]
        codes = torch.tensor([[CODES[b] for b in s] for s in both], dtype=torch.uint8)
        with torch.no_grad():
            logits, attention = model(codes)
        assert attention is None
        probs[name] = torch.sigmoid(logits).double().mean(dim=0).numpy()
    logit = {k: np.log(p / (1 - p)) for k, p in probs.items()}
    return logit["alt"] - logit["ref"]


@pytest.mark.parametrize("which", ["danq", "deepsea"])
def test_architecture_without_attention_scores(which: str, danq_file: Path, deepsea_file: Path,
                                               inputs: dict, tmp_path: Path) -> None:
    path = danq_file if which == "danq" else deepsea_file
    model, info = load_model(path)
    assert info.arch == which and not model.has_attention
    for out in ("out.tsv", "out.vcf"):
        assert tbvar_main(["score", str(inputs["vcf"]), "--genome", str(inputs["genome"]),
                           "--model", str(path), "-o", str(tmp_path / out), "--device", "cpu",
                           "-q"]) == 0
    table = pd.read_csv(tmp_path / "out.tsv", sep="\t")
    assert (table["status"] == "ok").all() and len(table) == len(POSITIONS)
    assert not [c for c in table.columns if c.startswith("attn")]
    lods = [c for c in table.columns if c.startswith("lod.")]  # in task order
    assert len(lods) == 3
    for i in range(len(table)):
        want = direct_lod(model, int(table.loc[i, "pos"]), table.loc[i, "alt"])
        np.testing.assert_allclose(table.loc[i, lods].to_numpy(float), want, atol=1e-5)
    reader = VCF(str(tmp_path / "out.vcf"))
    declared = [h["ID"] for h in reader.header_iter() if h["HeaderType"] == "INFO"]
    assert "TBVAR_MAXLOD" in declared and not [d for d in declared if "ATTN" in d]
    for record in reader:
        assert record.INFO["TBVAR_STATUS"] == "ok" and record.INFO.get("TBVAR_ATTN_SHIFT") is None
