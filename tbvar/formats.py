"""Output formats: the table of formats, each with its file suffixes and writer.

Every writer provides the :class:`ChunkWriter` interface: ``encode`` turns a
:class:`~tbvar.stage.ScoredChunk` into an output *part* (bytes), ``assemble`` builds the
complete output from all parts in order (:mod:`tbvar.output`). Adding a format is one entry in
:data:`FORMATS` plus its writer class.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from tbvar.stage import ScoredChunk
from tbvar.vcf_writer import VcfWriter
from tbvar.writers import ParquetDatasetWriter, TableWriter

#: Per chunk, the q-values handed to ``assemble``: one row per allele row, in row order, with
#: its record (chunk-relative) and ALT index (-1: no ALT).
QVALUE_DTYPE = [("record", "<i8"), ("alt_index", "<i8"), ("q", "<f8")]


class ChunkWriter(Protocol):
    """What every output writer provides.

    ``assemble`` gets the run's q-values per chunk (:data:`QVALUE_DTYPE` arrays) when the rows
    carry p-values; a writer with a ``q`` column or field fills it in then. A writer whose
    output is a directory (:class:`~tbvar.writers.ParquetDatasetWriter`) also has
    ``directory = True``: ``assemble`` makes the directory ``target``.
    """

    part: str

    def encode(self, chunk: ScoredChunk) -> bytes: ...

    def assemble(self, target: Path, parts: Iterable[Path], extra_header: Sequence[str] = (),
                 q: Sequence[np.ndarray] | None = None) -> None: ...


@dataclass(frozen=True)
class WriterContext:
    """What a writer may need besides its path.

    Attributes
    ----------
    template
        Zero-row result frame: every column and its dtype.
    metadata
        Provenance (``##tbvar_KEY=`` header lines, Parquet schema metadata).
    vcf_header
        The input VCF's header text (``None`` for DataFrame input).
    attention
        Whether the model has attention.
    """

    template: pd.DataFrame
    metadata: dict[str, str]
    vcf_header: str | None
    attention: bool

    @property
    def significance(self) -> bool:
        """Whether rows carry p-values against a background (and a ``q`` column)."""
        return "q" in self.template


@dataclass(frozen=True)
class OutputFormat:
    """One output format: name, file-name suffixes and writer factory."""

    name: str
    suffixes: tuple[str, ...]
    make: Callable[[Path, WriterContext], ChunkWriter]


def _vcf_writer(path: Path, context: WriterContext) -> ChunkWriter:
    if context.vcf_header is None:
        raise ValueError(f"{path}: VCF output needs VCF input; write TSV or Parquet")
    return VcfWriter(path, context.vcf_header, context.metadata, context.attention,
                     context.significance)


FORMATS = {f.name: f for f in (
    OutputFormat("vcf", (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf"), _vcf_writer),
    OutputFormat("tsv", (".tsv", ".tsv.gz", ".txt", ".txt.gz"),
                 lambda path, c: TableWriter(path, "tsv", c.template, c.metadata)),
    OutputFormat("parquet", (".parquet", ".pq"),
                 lambda path, c: TableWriter(path, "parquet", c.template, c.metadata)),
    OutputFormat("parquet-dataset", ("/",),
                 lambda path, c: ParquetDatasetWriter(path, c.template, c.metadata)),
)}
OUTPUT_FORMATS = tuple(FORMATS)


def detect_format(path: str | os.PathLike[str], given: str | None = None) -> str:
    """Output format from ``given`` or the file name (.vcf[.gz], .bcf, .tsv[.gz], .parquet; a
    name ending in ``/`` is a Parquet dataset directory)."""
    if given:
        if given not in FORMATS:
            raise ValueError(f"unknown output format {given!r}; choose from {OUTPUT_FORMATS}")
        return given
    name = str(path).lower()
    for fmt in FORMATS.values():
        if name.endswith(fmt.suffixes):
            return fmt.name
    raise ValueError(f"{path}: cannot tell the output format from the name; use --format "
                     f"({'|'.join(OUTPUT_FORMATS)})")


def make_writer(path: str | os.PathLike[str], fmt: str | None, context: WriterContext
                ) -> ChunkWriter:
    """The writer for ``path`` in format ``fmt`` (``None``: from the name)."""
    return FORMATS[detect_format(path, fmt)].make(Path(path), context)
