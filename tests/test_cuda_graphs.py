"""CUDA graphs of full passes (``--cuda-graphs``): which passes are replayed, outputs equal to
eager passes bit for bit, copies out of the static buffers, and the fall-back when a capture
fails or a replay differs. A CPU stand-in (``StandInRecorder``) records and replays as a CUDA
graph does (static input and output buffers, refilled in place by each replay); the CUDA
recorder itself runs in ``benchmarks/gpu_check.sh`` (``benchmarks/cuda_graphs.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tbvar.cuda_graphs import GraphedPasses, Outputs, Run, StandInRecorder
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.options import RunOptions, ScoreOptions
from tbvar.run_setup import make_stage
from tbvar.score_cli import recorded_command
from tbvar.scoring import Scorer

CONFIG = TBiNetConfig(sequence_length=200, n_kernels=8, kernel_width=8, pool_size=4,
                      lstm_units=6, dense_units=10, n_tasks=5,
                      recurrent_activation="hard_sigmoid")


class DriftingRecorder(StandInRecorder):
    """A replay one float32 step off the eager pass in one logit."""

    def replay(self) -> None:
        super().replay()
        self.outputs[0][0, 0] = torch.nextafter(self.outputs[0][0, 0], torch.tensor(1e9))


class FailingRecorder(StandInRecorder):
    def record(self, run: Run, static_input: torch.Tensor) -> Outputs:
        raise RuntimeError("operation not permitted when stream is capturing")


@pytest.fixture(scope="module")
def model() -> TBiNet:
    torch.manual_seed(0)
    return TBiNet(CONFIG).eval()


def _windows(n: int, duplicated: int = 0, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, (n, CONFIG.sequence_length), dtype=np.uint8)
    alt = ref.copy()
    alt[:, CONFIG.sequence_length // 2] = (alt[:, CONFIG.sequence_length // 2] + 1) % 4
    ref[:duplicated] = ref[0]  # shared REF windows: the shared path pads its distinct rows
    return ref, alt


def _graphed(scorer: Scorer, recorder: type[StandInRecorder], notes: list[str]) -> Scorer:
    scorer.passes = GraphedPasses(scorer.model, scorer.full_pass_rows, recorder, notes.append)
    return scorer


def _counted(scorer: Scorer) -> list[int]:
    """The sizes of the scorer's eager passes, recorded as they run."""
    sizes: list[int] = []
    model = scorer.passes

    def counted(codes: torch.Tensor) -> Outputs:
        sizes.append(len(codes))
        return model(codes)

    scorer.passes = counted
    return sizes


@pytest.mark.parametrize(("n", "duplicated", "rc"), [(50, 0, True), (37, 20, True),
                                                     (48, 0, False), (5, 0, True)])
def test_full_passes_are_replayed_and_equal_eager_passes(model: TBiNet, n: int,
                                                         duplicated: int, rc: bool) -> None:
    ref, alt = _windows(n, duplicated)
    plain = Scorer(model, device="cpu", batch_size=8, reverse_complement=rc)
    sizes = _counted(plain)
    expected = plain.score(ref, alt)
    notes: list[str] = []
    graphed = _graphed(Scorer(model, device="cpu", batch_size=8, reverse_complement=rc),
                       StandInRecorder, notes)
    got = graphed.score(ref, alt)
    for name in ("ref", "alt", "ref_attention", "alt_attention"):
        assert np.array_equal(getattr(got, name), getattr(expected, name)), name
    # full passes, counted from the windows: REF and ALT of 8 variants per pass; with shared
    # windows the distinct rows of the full passes, in passes of 16
    rows = np.concatenate([np.concatenate([ref[i:i + 8], alt[i:i + 8]])
                           for i in range(0, n - n % 8, 8)]) if n >= 8 else ref[:0]
    distinct = len(np.unique(rows, axis=0))
    full = -(-distinct // 16) if duplicated else n // 8
    assert graphed.passes.replays == full == sum(size == graphed.full_pass_rows
                                                 for size in sizes)
    assert graphed.full_pass_rows == 8 * 2 * (1 + rc) and notes == []


def test_replayed_outputs_are_copies(model: TBiNet) -> None:
    scorer = _graphed(Scorer(model, device="cpu", batch_size=4), StandInRecorder, [])
    rows = scorer.full_pass_rows
    rng = np.random.default_rng(3)
    first_codes, second_codes = (torch.from_numpy(rng.integers(0, 4, (rows, 200),
                                                                 dtype=np.uint8))
                                 for _ in range(2))
    with torch.inference_mode():
        first = scorer.passes(first_codes)
        kept = first[0].clone()
        second = scorer.passes(second_codes)
        assert scorer.passes.replays == 2
        assert torch.equal(first[0], kept) and not torch.equal(second[0], kept)
        assert torch.equal(second[0], model(second_codes)[0])


@pytest.mark.parametrize(("recorder", "reason"), [
    (DriftingRecorder, "a replay differed from the eager pass"),
    (FailingRecorder, "the capture failed (operation not permitted when stream is capturing)")])
def test_a_failed_check_turns_graphs_off_and_keeps_eager_outputs(
        model: TBiNet, recorder: type[StandInRecorder], reason: str) -> None:
    ref, alt = _windows(40)
    expected = Scorer(model, device="cpu", batch_size=8).score(ref, alt)
    notes: list[str] = []
    graphed = _graphed(Scorer(model, device="cpu", batch_size=8), recorder, notes)
    got = graphed.score(ref, alt)
    assert np.array_equal(got.ref, expected.ref) and np.array_equal(got.alt, expected.alt)
    assert graphed.passes.off_reason == reason
    assert notes == [f"CUDA graphs are off for this run: {reason}; every pass runs eagerly"]
    assert graphed.passes.replays == (1 if recorder is DriftingRecorder else 0)


def test_graphs_apply_on_cuda_only_and_stay_out_of_the_recorded_command(
        model: TBiNet, tmp_path) -> None:
    scorer = Scorer(model, device="cpu", batch_size=8, cuda_graphs=True)
    assert scorer.passes is scorer.model
    stage = make_stage(model, None, ScoreOptions(), RunOptions(device="cpu", batch_size=8,
                                                               cuda_graphs=True), None)
    assert stage.scorer.passes is stage.scorer.model
    assert recorded_command(["score", "in.vcf", "--cuda-graphs", "--genome", "g.fa"]) == \
        "tbvar score in.vcf --genome g.fa"
