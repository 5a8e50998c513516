"""tbvar.output on its own: a stub engine and a recording writer, no model or genome."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import pytest

from tbvar.output import OutputPlan, write_run
from tbvar.output_lock import lock_path
from tbvar.run_summary import RunSummary
from tbvar.stage import ScoredChunk
from tbvar.variants import VariantChunk, allele_frame


class LinesWriter:
    """Writes each chunk's ``lines`` as text; assembly adds a header and the extra lines."""

    def __init__(self, part: str) -> None:
        self.part = part
        self.encoded: list[int] = []

    def encode(self, chunk: ScoredChunk) -> bytes:
        self.encoded.append(chunk.index)
        return "".join(f"{line}\n" for line in chunk.lines).encode()

    def assemble(self, target: Path, parts: Iterable[Path], extra_header: Sequence[str] = (),
                 q=None) -> None:
        body = b"".join(Path(p).read_bytes() for p in parts)
        target.write_bytes(f"#{self.part}\n".encode() + "".join(
            f"{x}\n" for x in extra_header).encode() + body)


def chunks(n: int) -> list[VariantChunk]:
    return [VariantChunk(allele_frame([(i, 0, "chr1", i + 1, None, "A", "C")]), [f"rec{i}"],
                         [i + 1], i) for i in range(n)]


def scored(chunk: VariantChunk, status: str = "ok") -> ScoredChunk:
    rows = pd.DataFrame({"status": [status], "edge": [False], "contains_n": [True],
                         "ref_match": [True],
                         "swapped": [False]})
    return ScoredChunk(rows, chunk.lines, chunk.numbers, chunk.index,
                       RunSummary.of_rows(rows, 1, "skip"))


class StubEngine:
    """Scores chunks as ``scored`` does; raises at chunk ``fail_at``; records what it skipped."""

    def __init__(self, fail_at: int | None = None, partial: Path | None = None) -> None:
        self.fail_at = fail_at
        self.partial = partial
        self.skipped: list[int] = []

    def __call__(self, items, skip=None):
        for chunk in items:
            if skip is not None and skip(chunk.index):
                self.skipped.append(chunk.index)
                yield chunk, None
                continue
            if chunk.index == self.fail_at:
                _wait_for_saved(self.partial, chunk.index)
                raise KeyboardInterrupt
            yield chunk, scored(chunk, "ok" if chunk.index % 2 == 0 else "no_alt")


def _wait_for_saved(partial: Path | None, n: int) -> None:
    """Until the write-behind thread has saved ``n`` chunks (as if the run were killed then)."""
    deadline = time.monotonic() + 30
    while partial is not None and len(list(partial.glob("chunk-*.json"))) < n:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def plan(tmp_path: Path, key: dict | None = None) -> OutputPlan:
    return OutputPlan([(tmp_path / "out.txt", LinesWriter("main")),
                       (tmp_path / "side.txt", LinesWriter("side"))],
                      key or {"input": "x"}, lambda: ["##added"])


def test_outputs_are_assembled_in_order_with_counts(tmp_path: Path) -> None:
    summary = write_run(StubEngine(), chunks(5), plan(tmp_path), "skip")
    assert summary.records == 5 and summary.status_counts == {"ok": 3, "no_alt": 2}
    assert summary.contains_n == 5 and summary.header_added == ["##added"]
    counts = json.loads((tmp_path / "out.txt.summary.json").read_text())
    assert counts == summary.to_dict()
    main = (tmp_path / "out.txt").read_text().splitlines()
    assert main[:2] == ["#main", "##added"] and main[2].startswith("##tbvar_summary={")
    assert json.loads(main[2].split("=", 1)[1]) == counts
    assert main[3:] == [f"rec{i}" for i in range(5)]
    assert (tmp_path / "side.txt").read_text().splitlines()[3:] == main[3:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out.txt", "out.txt.summary.json", "side.txt"]  # no partial directory, no lock


def test_failure_leaves_no_output_and_resume_reuses_finished_chunks(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        write_run(StubEngine(fail_at=3, partial=tmp_path / "out.txt.partial"), chunks(5),
                  plan(tmp_path), "skip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt.partial"]
    done = 3
    notes: list[str] = []
    engine = StubEngine()
    summary = write_run(engine, chunks(5), plan(tmp_path), "skip", resume=True,
                        notify=notes.append)
    assert engine.skipped == [0, 1, 2]  # finished before the interruption
    assert notes == [f"resuming: {done} finished chunk(s) in {tmp_path / 'out.txt.partial'} "
                     "are reused"]
    assert summary.records == 5 and summary.status_counts == {"ok": 3, "no_alt": 2}
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    write_run(StubEngine(), chunks(5), plan(fresh), "skip")
    for name in ("out.txt", "side.txt", "out.txt.summary.json"):
        assert (tmp_path / name).read_bytes() == (fresh / name).read_bytes()


def test_resume_with_another_key_starts_over(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        write_run(StubEngine(fail_at=2), chunks(4), plan(tmp_path), "skip")
    notes: list[str] = []
    engine = StubEngine()
    write_run(engine, chunks(4), plan(tmp_path, {"input": "y"}), "skip", resume=True,
              notify=notes.append)
    assert engine.skipped == [] and "starting over" in notes[0]


def test_bad_input_removes_the_partial_directory_and_the_lock(tmp_path: Path) -> None:
    class Failing(StubEngine):
        def __call__(self, items, skip=None):
            yield from super().__call__(items[:2], skip)
            raise ValueError("calls.vcf: line 3: bad record")

    with pytest.raises(ValueError, match="line 3"):
        write_run(Failing(), chunks(4), plan(tmp_path), "skip")
    assert list(tmp_path.iterdir()) == []
    assert not lock_path(tmp_path / "out.txt").exists()


def test_targets_are_checked_before_anything_is_written(tmp_path: Path) -> None:
    same = OutputPlan([(tmp_path / "a.txt", LinesWriter("x")),
                       (tmp_path / "a.txt", LinesWriter("y"))], {})
    with pytest.raises(ValueError, match="output files must differ"):
        write_run(StubEngine(), chunks(1), same, "skip")
    missing = OutputPlan([(tmp_path / "no" / "a.txt", LinesWriter("x"))], {})
    with pytest.raises(OSError, match="does not exist"):
        write_run(StubEngine(), chunks(1), missing, "skip")
    assert list(tmp_path.iterdir()) == []
