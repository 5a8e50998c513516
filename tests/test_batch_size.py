"""``--batch-size auto``: the arithmetic from free memory and a probe's bytes per variant."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tbvar.batch_size import (
    CPU_BATCH,
    GRAPH_PASSES_PER_CHUNK,
    MAX_BATCH,
    MEMORY_SHARE,
    batch_for_memory,
    resolve_batch_size,
)
from tbvar.cli import main
from tbvar.options import RunOptions, ScoreOptions
from tbvar.run_setup import load_model

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF, REPO


def test_batch_takes_its_share_of_free_memory_in_multiples_of_64() -> None:
    per_variant = 10e6  # 10 MB per variant, about TBiNet's with strands on fp32
    batch = batch_for_memory(80 * 2**30, per_variant)
    assert batch % 64 == 0
    assert batch * per_variant <= MEMORY_SHARE * 80 * 2**30 < (batch + 64) * per_variant


def test_small_memory_large_memory_and_a_cap() -> None:
    assert batch_for_memory(10, 1e6) == 1  # never zero
    assert batch_for_memory(50 * 10**6, 1e6) == 30  # below 64: not rounded
    assert batch_for_memory(2**50, 1e3) == MAX_BATCH
    assert batch_for_memory(2**50, 1e3, cap=1000) == 1000


def test_auto_on_the_cpu_is_the_cpu_batch_and_scores_as_128(tmp_path: Path) -> None:
    net = load_model(REPO / "examples" / "model.safetensors")
    chosen = resolve_batch_size(net, ScoreOptions(), RunOptions(device="cpu", batch_size="auto"))
    assert chosen.batch_size == CPU_BATCH == 128
    fixed = RunOptions(device="cpu", batch_size=7)
    assert resolve_batch_size(net, ScoreOptions(), fixed) is fixed
    outputs = []
    for value in ("auto", "128"):
        out = tmp_path / f"{value}.tsv"
        assert main(["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model",
                     str(REPO / "examples" / "model.safetensors"), "--device", "cpu",
                     "--batch-size", value, "-o", str(out), "-q"]) == 0
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]  # the header records the resolved batch size too


def test_bad_batch_sizes_are_refused() -> None:
    for bad in (0, -3, "big", 2.5):
        with pytest.raises(ValueError, match="batch_size must be a positive integer or 'auto'"):
            RunOptions(batch_size=bad)
    with pytest.raises(SystemExit):
        main(["score", "in.vcf", "--genome", "g.fa", "--batch-size", "lots", "-o", "x.tsv"])


def test_auto_with_cuda_graphs_leaves_room_for_the_graph_and_full_passes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On CUDA (faked: the probe's bytes per variant and the free memory given), graphs count
    each variant twice and keep two full passes in a chunk."""
    import tbvar.batch_size as batch_size

    monkeypatch.setattr(batch_size, "resolve_device", lambda device: torch.device("cuda"))
    monkeypatch.setattr(batch_size, "Scorer", lambda *args, **kwargs: SimpleNamespace(
        score=None, sequence_length=1000))
    monkeypatch.setattr(batch_size, "probe_bytes_per_variant", lambda *args: 4e6)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (40 * 2**30, 80 * 2**30))
    net = SimpleNamespace()

    def auto(**run: object) -> int:
        return resolve_batch_size(net, ScoreOptions(),
                                  RunOptions(batch_size="auto", **run)).batch_size

    plain = auto()
    assert plain == batch_for_memory(40 * 2**30, 4e6) == 6400  # 0.6 × 40 GiB / 4 MB, by 64
    assert auto(cuda_graphs=True, chunk_size=100_000) == 3200  # the graph's pool: half
    assert auto(cuda_graphs=True) == 512 == 1024 // GRAPH_PASSES_PER_CHUNK  # 2 passes a chunk
