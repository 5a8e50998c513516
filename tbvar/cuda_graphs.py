"""CUDA graphs of the model's full passes: captured once, then one replay per pass.

On a GPU the model's forward pass is many small kernels — the hard-sigmoid BiLSTM alone
launches about a dozen per step, 75 steps per pass — and at moderate batches launching them
costs about as much as running them. A CUDA graph records one pass's kernels and replays them
with a single launch (``--cuda-graphs``, :class:`GraphedPasses`).

Scope and exactness:

- only passes of the scorer's full size (``rows`` sequences, reverse complements included)
  are replayed: every full pass of a run has that size (the shared-window path pads its
  distinct rows to it); a chunk's shorter last pass runs as it is. A replay runs the kernels
  that the eager pass of the same shape runs, so its outputs are the eager outputs, bit for
  bit;
- that is checked once, at capture: the replay's outputs must equal an eager pass over the
  same input bit for bit. If they do not, or the capture fails, graphs are turned off for the
  scorer (with a note) and every pass runs eagerly;
- outputs are copied out of the graph's static buffers (the next replay overwrites them).

A captured graph keeps its own memory pool, as large as one full pass's activations, beside
the memory of eager passes: ``--batch-size auto`` leaves room for both
(:mod:`tbvar.batch_size`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

#: Eager passes on a side stream before capture (cuBLAS/cuDNN workspaces and plans).
WARMUP_PASSES = 3

Outputs = tuple[torch.Tensor, torch.Tensor | None]
Run = Callable[[torch.Tensor], Outputs]


class Recorder(Protocol):
    """Records ``run(static_input)`` once and replays it on the same static buffers."""

    def record(self, run: Run, static_input: torch.Tensor) -> Outputs:
        """Capture one call; its output tensors (static: each replay refills them)."""
        ...

    def replay(self) -> None:
        """Run the recorded kernels again on the static input's current contents."""
        ...


class CudaGraphRecorder:
    """A :class:`Recorder` that captures a ``torch.cuda.CUDAGraph`` on ``device``."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.graph = torch.cuda.CUDAGraph()

    def record(self, run: Run, static_input: torch.Tensor) -> Outputs:
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_PASSES):
                run(static_input)
        torch.cuda.current_stream(self.device).wait_stream(side)
        with torch.cuda.graph(self.graph):
            outputs = run(static_input)
        torch.cuda.synchronize(self.device)
        torch.cuda.empty_cache()  # the warm-up's blocks, cached for the side stream only
        return outputs

    def replay(self) -> None:
        self.graph.replay()


class StandInRecorder:
    """A :class:`Recorder` without CUDA that keeps a graph's contract: the captured call's
    outputs are static buffers, and each replay runs the call again on the static input's
    current contents and refills them in place. It lets :class:`GraphedPasses` run where
    there is no GPU (tests, ``benchmarks/cuda_graphs.py --stand-in``)."""

    def __init__(self) -> None:
        self._run: Run | None = None
        self._input: torch.Tensor | None = None
        self.outputs: Outputs | None = None

    def record(self, run: Run, static_input: torch.Tensor) -> Outputs:
        self._run, self._input = run, static_input
        logits, attention = run(static_input)
        self.outputs = (logits.clone(), attention.clone() if attention is not None else None)
        return self.outputs

    def replay(self) -> None:
        logits, attention = self._run(self._input)
        self.outputs[0].copy_(logits)
        if attention is not None:
            self.outputs[1].copy_(attention)


def _same(one: Outputs, two: Outputs) -> bool:
    """Whether two passes' outputs are equal bit for bit (``None`` attention on both)."""
    return all((a is None and b is None) or (a is not None and b is not None
                                             and a.dtype == b.dtype and a.shape == b.shape
                                             and torch.equal(a, b))
               for a, b in zip(one, two, strict=True))


class GraphedPasses:
    """``run(codes)``, replayed from a graph for passes of ``rows`` sequences.

    Parameters
    ----------
    run
        One eager pass: base codes ``(n, L)`` on the device → logits ``(n, T)`` and attention
        ``(n, B)`` or ``None`` (called in the caller's autocast and inference mode, which the
        capture records).
    rows
        The full pass size: passes of this many sequences are replayed, others run eagerly.
    recorder
        Makes the recorder of the one capture (:class:`CudaGraphRecorder` on a GPU).
    notify
        Receives a one-line note when graphs are turned off.
    """

    def __init__(self, run: Run, rows: int, recorder: Callable[[], Recorder],
                 notify: Callable[[str], None] | None = None) -> None:
        self.run, self.rows = run, rows
        self._new_recorder, self._notify = recorder, notify
        self._recorder: Recorder | None = None
        self._input: torch.Tensor | None = None
        self._outputs: Outputs | None = None
        #: Passes replayed from the graph (the check pass included).
        self.replays = 0
        #: Why graphs were turned off (``None``: they are on).
        self.off_reason: str | None = None

    def __call__(self, codes: torch.Tensor) -> Outputs:
        if self.off_reason is not None or len(codes) != self.rows:
            return self.run(codes)
        if self._recorder is None:
            return self._capture(codes)
        self._input.copy_(codes)
        return self._replayed()

    def _replayed(self) -> Outputs:
        self._recorder.replay()
        self.replays += 1
        logits, attention = self._outputs
        return logits.clone(), attention.clone() if attention is not None else None

    def _capture(self, codes: torch.Tensor) -> Outputs:
        """Capture the graph on ``codes``, check its replay against an eager pass; that pass's
        outputs."""
        expected = self.run(codes)
        try:
            recorder = self._new_recorder()
            self._input = codes.clone()
            self._outputs = recorder.record(self.run, self._input)
            self._recorder = recorder
            replayed = self._replayed()
        except RuntimeError as exc:
            return self._turn_off(f"the capture failed ({exc})", expected)
        if not _same(replayed, expected):
            return self._turn_off("a replay differed from the eager pass", expected)
        return replayed

    def _turn_off(self, reason: str, expected: Outputs) -> Outputs:
        self.off_reason = reason
        self._recorder = self._input = self._outputs = None
        if self._notify is not None:
            self._notify(f"CUDA graphs are off for this run: {reason}; every pass runs "
                         "eagerly")
        return expected
