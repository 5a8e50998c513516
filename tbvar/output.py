"""Writing a scoring run to files: chunk parts in ``OUT.partial/``, then atomic assembly.

Outputs of one run: the main output (annotated VCF/BCF, TSV or Parquet), the JSON summary
``OUT.summary.json`` and, if asked, the ``--skipped`` TSV. Every chunk's encoded parts are
stored in a :class:`tbvar.partial.PartialRun` as soon as the chunk is scored; after the last
chunk each output is assembled inside the partial directory and renamed into place (side files
first, the main output last) and the directory is removed. So:

- an interrupted or killed run leaves no output file, only ``OUT.partial/``;
- ``resume=True`` skips the chunks finished before and yields the same bytes as an
  uninterrupted run (both take the same path through chunk parts);
- a run that fails on bad input removes ``OUT.partial/`` (resuming could not help).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from tbvar.atomic import set_default_permissions
from tbvar.output_lock import OutputLock
from tbvar.partial import PartialRun
from tbvar.pipeline import RunSummary, ScoredChunk, ScoringRun
from tbvar.prefetch import WriteBehind
from tbvar.variants import VariantChunk


class ChunkWriter(Protocol):
    """What :mod:`tbvar.writers` classes provide."""

    part: str

    def encode(self, chunk: ScoredChunk) -> bytes: ...

    def assemble(self, target: Path, parts: Iterable[Path], extra_header: Sequence[str] = ()
                 ) -> None: ...


def summary_path(output: str | os.PathLike[str]) -> Path:
    """``OUT.summary.json`` beside the output."""
    return Path(f"{output}.summary.json")


def _check_targets(paths: Sequence[Path]) -> None:
    for path in paths:
        if not path.parent.is_dir():
            raise OSError(f"{path}: output directory {path.parent} does not exist")
        if path.is_dir():
            raise OSError(f"{path}: is a directory")
    if len({p.resolve() for p in paths}) != len(paths):
        raise ValueError(f"output files must differ: {', '.join(map(str, paths))}")


def write_run(run: ScoringRun, chunks: Iterable[VariantChunk],
              writers: Sequence[tuple[Path, ChunkWriter]], key: dict[str, Any],
              header_additions: Callable[[], list[str]] = list, resume: bool = False,
              progress: bool = False, notify: Callable[[str], None] | None = None
              ) -> RunSummary:
    """Score ``chunks`` into the outputs ``writers`` (main output first) atomically.

    Parameters
    ----------
    run
        The scoring run (its ``summary`` is completed and returned).
    chunks
        Input chunks in order, numbered from 0.
    writers
        ``(final path, writer)`` pairs; the first is the main output, which owns
        ``OUT.partial/`` and ``OUT.summary.json``.
    key
        What the output depends on (input fingerprint, model, genome, options); a resumed run
        reuses chunks only when it is equal.
    header_additions
        Called after the last chunk: header lines the input lacked (see
        :meth:`tbvar.vcf_reader.VcfSource.header_additions`).
    resume
        Reuse finished chunks of an interrupted run.
    notify
        Receives one-line notes (e.g. why an old partial run could not be resumed).
    """
    main = Path(writers[0][0])
    summary_file = summary_path(main)
    _check_targets([Path(p) for p, _ in writers] + [summary_file])
    with OutputLock(main):  # a second run into the same output stops here
        return _write_locked(run, chunks, writers, key, header_additions, resume, progress,
                             notify)


def _write_locked(run: ScoringRun, chunks: Iterable[VariantChunk],
                  writers: Sequence[tuple[Path, ChunkWriter]], key: dict[str, Any],
                  header_additions: Callable[[], list[str]], resume: bool, progress: bool,
                  notify: Callable[[str], None] | None) -> RunSummary:
    main = Path(writers[0][0])
    summary_file = summary_path(main)
    store = PartialRun(main, key, resume=resume)
    if notify is not None and store.stale_reason:
        notify(f"not resuming {store.dir}: {store.stale_reason}; starting over")
    if notify is not None and store.reused:
        notify(f"resuming: {store.reused} finished chunk(s) in {store.dir} are reused")

    def save(chunk: VariantChunk, scored: ScoredChunk) -> None:
        store.save(chunk.index, {w.part: w.encode(scored) for _, w in writers},
                   {"summary": scored.summary.to_dict(), "records": len(chunk.lines)})

    try:
        n_chunks = 0
        with WriteBehind() as behind:  # encode and save chunk k while chunk k+1 is scored
            for chunk, scored in run.run(chunks, progress=progress, skip=store.done):
                if scored is None:
                    run.summary.merge(store.info(chunk.index)["summary"])
                else:
                    behind.submit(save, chunk, scored)
                n_chunks = chunk.index + 1
        run.summary.header_added = header_additions()
        summary = run.summary.to_dict()
        extra = run.summary.header_added + [
            "##tbvar_summary=" + json.dumps(summary, sort_keys=True, separators=(",", ":"))]
        assembled = []
        for path, writer in writers:
            target = store.scratch(writer.part)
            writer.assemble(target, store.parts(writer.part, n_chunks), extra)
            assembled.append((target, Path(path)))
        target = store.scratch("summary.json")
        target.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        assembled.insert(0, (target, summary_file))
        for source, path in [*assembled[:1], *assembled[2:], assembled[1]]:
            set_default_permissions(source)
            os.replace(source, path)
    except Exception:
        store.remove()
        raise
    store.remove()
    return run.summary
