"""A bounded, order-independent uniform sample of background score rows, plus exact RMS.

Each background allele gets a priority from a seeded 64-bit hash of its record index and ALT
index; the sample keeps the k rows of smallest priority (bottom-k sampling). That is a uniform
random sample of k of the n rows, the same whatever the chunking or the order in which chunks
arrive, mergeable, and resumable from a saved state. Sums of squares are kept over all n rows
in float64, so the RMS is exact. Memory: k × (number of columns) float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tbvar.background import Background

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, element-wise on uint64 (a bijective 64-bit mix)."""
    z = np.asarray(x, dtype=np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def row_priority(record_index: np.ndarray, alt_index: np.ndarray, seed: int) -> np.ndarray:
    """Sampling priority of allele rows ``(n,)`` → ``(n,)`` uint64."""
    with np.errstate(over="ignore"):
        first = splitmix64(np.asarray(record_index, np.int64).astype(np.uint64)
                           ^ splitmix64(np.uint64(seed)))
        return splitmix64(first ^ np.asarray(alt_index, np.int64).astype(np.uint64))


@dataclass
class NullSample:
    """Bottom-k sample of score rows and the sums of squares of all rows.

    Attributes
    ----------
    sample_size
        k.
    priority
        ``(m,)`` uint64 priorities of the kept rows (m ≤ k).
    values
        Score name → ``(m, C)`` float32 values of the kept rows.
    sumsq
        Score name → ``(C,)`` float64 sum of squares over all rows added.
    n
        Rows added.
    """

    sample_size: int
    priority: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    values: dict[str, np.ndarray] = field(default_factory=dict)
    sumsq: dict[str, np.ndarray] = field(default_factory=dict)
    n: int = 0

    def add(self, priority: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Add rows: ``priority`` ``(r,)`` and per score ``(r, C)`` values."""
        if not len(priority):
            return
        with np.errstate(over="ignore"):
            for name, block in values.items():
                block = np.asarray(block, dtype=np.float32)
                squares = np.square(block, dtype=np.float64).sum(axis=0)
                self.sumsq[name] = self.sumsq.get(name, 0.0) + squares
                kept = self.values.get(name, np.zeros((0, block.shape[1]), np.float32))
                self.values[name] = np.concatenate([kept, block])
        self.priority = np.concatenate([self.priority, np.asarray(priority, np.uint64)])
        self.n += len(priority)
        if len(self.priority) > self.sample_size:
            keep = np.argpartition(self.priority, self.sample_size - 1)[:self.sample_size]
            keep.sort()
            self.priority = self.priority[keep]
            self.values = {name: block[keep] for name, block in self.values.items()}

    def background(self, meta: dict) -> Background:
        """The null distributions: sorted absolute sampled values and exact RMS."""
        if self.n == 0:
            raise ValueError("no background variant was scored; nothing to calibrate")
        sorted_abs = {name: np.sort(np.abs(block), axis=0) for name, block in self.values.items()}
        rms = {name: np.sqrt(total / self.n) for name, total in self.sumsq.items()}
        return Background(sorted_abs, rms, self.n, meta)

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save for a resume (:meth:`from_state` reads them)."""
        out = {"priority": self.priority.view(np.int64),
               "n": np.array([self.n, self.sample_size], np.int64)}
        for name in self.values:
            out[f"values.{name}"] = self.values[name]
            out[f"sumsq.{name}"] = np.asarray(self.sumsq[name], np.float64)
        return out

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> NullSample:
        """Inverse of :meth:`state`."""
        n, size = (int(v) for v in state["n"])
        names = [key.split(".", 1)[1] for key in state if key.startswith("values.")]
        return cls(size, state["priority"].view(np.uint64).copy(),
                   {name: state[f"values.{name}"] for name in names},
                   {name: state[f"sumsq.{name}"] for name in names}, n)
