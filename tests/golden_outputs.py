"""Golden outputs: digests of ``tbvar score`` outputs on the example and the hardening corpus.

Every output format (``.vcf``, ``.vcf.gz``, ``.bcf``, ``.tsv``, ``.tsv.gz``, ``.parquet``) of
the bundled example and of each scorable corpus case, a few option sets on the example, and the
API's DataFrame are reduced to *artifacts*: stable byte forms with run-specific paths replaced
(the run's directory by ``{ROOT}``, the repository by ``{REPO}``; compressed files are compared
decompressed, Parquet by schema, metadata, row groups and column values). Their SHA-256 digests
are kept in ``tests/data/golden/golden_outputs.json``; ``tests/test_golden_outputs.py``
recomputes them and compares.

Regenerate only when an output change is intended, and say so in ``CHANGELOG.md``::

    python -m tests.golden_outputs --write

The corpus model is the fixed file ``tests/data/golden/corpus_model.safetensors`` (its SHA-256
is in the output headers); the corpus VCFs and genome are rebuilt by :mod:`tests.vcf_corpus`,
whose files' digests are kept as well (case ``corpus/inputs``).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import struct
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

import tbvar
from tbvar.cli import main as tbvar_main
from tests.vcf_corpus import Case, build_corpus, write_genome

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "data" / "golden"
DIGESTS = GOLDEN_DIR / "golden_outputs.json"
CORPUS_MODEL = GOLDEN_DIR / "corpus_model.safetensors"
EXAMPLE_VCF = REPO / "examples" / "variants.vcf"
EXAMPLE_GENOME = REPO / "examples" / "hg19_chr17_region_padded.fa.gz"
EXAMPLE_MODEL = REPO / "examples" / "model.safetensors"

FORMATS = (".vcf", ".vcf.gz", ".bcf", ".tsv", ".tsv.gz", ".parquet")
#: Option sets run on the example, into ``OPTION_FORMATS`` (``default``: into every format).
EXAMPLE_OPTIONS = {
    "default": [],
    "all-scores-top3": ["--scores", "ref,alt,diff,lod,absdiff,abslod", "--top-k", "3"],
    "no-rc": ["--no-rc"],
    "ref-mismatch-flip": ["--ref-mismatch", "flip"],
    "ref-mismatch-use-vcf": ["--ref-mismatch", "use-vcf"],
    "tasks": ["--tasks", "ESR1,CTCF"],
    "small-chunks": ["--chunk-size", "3", "--batch-size", "2"],
}
OPTION_FORMATS = (".tsv", ".vcf.gz")
API_CASE = "api/example"
INPUTS_CASE = "corpus/inputs"
#: Artifacts kept verbatim as well (a mismatch then shows the first differing line).
VERBATIM = {("example/default", "tsv/output"): GOLDEN_DIR / "example_output.tsv",
            ("example/default", "vcf/output"): GOLDEN_DIR / "example_output.vcf"}
_BCF_MAGIC = b"BCF\x02\x02"


@dataclass
class Inputs:
    """Where one computation of the golden outputs reads and writes.

    ``root`` holds the corpus (``vcf/``), its genome and every output (``out/``).
    """

    root: Path
    genome: Path
    corpus: dict[str, Case]  # scorable cases only


def prepare(root: Path) -> Inputs:
    """Build the corpus and its genome under ``root``."""
    cases = build_corpus(root / "vcf")
    return Inputs(root, write_genome(root), {c.name: c for c in cases if c.error is None})


def scorable_corpus_names() -> list[str]:
    """Names of the corpus cases that score (built in a temporary directory)."""
    with tempfile.TemporaryDirectory() as tmp:
        return [c.name for c in build_corpus(Path(tmp)) if c.error is None]


def case_ids(corpus_names: Sequence[str]) -> list[str]:
    """Every output case: example option sets, corpus cases, the API frame."""
    return ([f"example/{name}" for name in EXAMPLE_OPTIONS]
            + [f"corpus/{name}" for name in corpus_names] + [API_CASE])


def normalise(data: bytes, root: Path) -> bytes:
    """Replace the run's directory by ``{ROOT}`` and the repository path by ``{REPO}``."""
    return data.replace(str(root).encode(), b"{ROOT}").replace(str(REPO).encode(), b"{REPO}")


def bgzf_blocks(data: bytes) -> list[bytes]:
    """The BGZF blocks of a file, split by their ``BSIZE`` fields."""
    blocks, start = [], 0
    while start < len(data):
        if data[start:start + 4] != b"\x1f\x8b\x08\x04" or data[start + 12:start + 14] != b"BC":
            raise ValueError(f"not a BGZF block at byte {start}")
        end = start + struct.unpack_from("<H", data, start + 16)[0] + 1
        blocks.append(data[start:end])
        start = end
    return blocks


def vcf_gz_body(data: bytes) -> bytes:
    """Compressed bytes of the blocks after the header (records and EOF): they hold no path."""
    text = gzip.decompress(data)
    header_end = text.index(b"\n", text.index(b"\n#CHROM") + 1) + 1
    offset, body = 0, []
    for block in bgzf_blocks(data):
        if offset >= header_end:
            body.append(block)
        offset += len(gzip.decompress(block))
    return b"".join(body)


def bcf_normalised(data: bytes, root: Path) -> bytes:
    """Decompressed BCF with paths normalised in its header text (and its length fixed)."""
    raw = gzip.decompress(data)
    if not raw.startswith(_BCF_MAGIC):
        raise ValueError("not a BCF 2.2 file")
    start = len(_BCF_MAGIC) + 4
    length = struct.unpack_from("<I", raw, len(_BCF_MAGIC))[0]
    header = normalise(raw[start:start + length], root)
    return _BCF_MAGIC + struct.pack("<I", len(header)) + header + raw[start + length:]


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False).encode()


def parquet_artifacts(path: Path, root: Path) -> dict[str, bytes]:
    """Schema, schema metadata, row-group sizes and exact column values of a Parquet file."""
    table = pq.read_table(path)
    schema = table.schema
    metadata = {key.decode(): normalise(value, root).decode()
                for key, value in (schema.metadata or {}).items()}
    file_meta = pq.ParquetFile(path).metadata
    columns = []
    for field, column in zip(schema, table.columns, strict=True):
        values = column.combine_chunks()
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            payload = _json(values.to_pylist())
        else:
            nulls = values.is_null().to_numpy(zero_copy_only=False)
            zero = pa.scalar(False if pa.types.is_boolean(field.type) else 0, field.type)
            numbers = values.fill_null(zero).to_numpy(zero_copy_only=False)
            payload = nulls.tobytes() + np.ascontiguousarray(numbers).tobytes()
        columns.append(f"{field.name}\t{field.type}\t{len(payload)}\n".encode() + payload)
    return {
        "output.schema": _json([[f.name, str(f.type), f.nullable] for f in schema]),
        "output.metadata": _json(metadata),
        "output.row_groups": _json([file_meta.row_group(i).num_rows
                                    for i in range(file_meta.num_row_groups)]),
        "output.columns": b"".join(columns),
    }


def frame_artifacts(frame: pd.DataFrame) -> dict[str, bytes]:
    """Column names and dtypes, index, exact values and ``attrs["summary"]`` of a DataFrame."""
    values = []
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":
            payload = np.ascontiguousarray(column.to_numpy()).tobytes()
        else:
            payload = _json([None if pd.isna(v) else v for v in column.tolist()])
        values.append(f"{name}\t{column.dtype}\t{len(payload)}\n".encode() + payload)
    return {
        "columns": _json([[str(name), str(dtype)] for name, dtype in frame.dtypes.items()]),
        "index": _json([type(frame.index).__name__, frame.index.tolist()]),
        "values": b"".join(values),
        "summary": _json(frame.attrs["summary"]),
    }


def output_artifacts(path: Path, root: Path) -> dict[str, bytes]:
    """The artifacts of one main output file, by its suffix."""
    data = path.read_bytes()
    name = path.name
    if name.endswith(".parquet"):
        return parquet_artifacts(path, root)
    if name.endswith(".bcf"):
        return {"output": bcf_normalised(data, root)}
    if name.endswith(".vcf.gz"):
        return {"output": normalise(gzip.decompress(data), root),
                "output.bgzf_body": vcf_gz_body(data)}
    if name.endswith(".tsv.gz"):
        return {"output": normalise(gzip.decompress(data), root), "output.bgzf": data}
    return {"output": normalise(data, root)}


def score_into(inputs: Inputs, vcf: Path, genome: Path, model: Path, args: Sequence[str],
               out_dir: Path, suffixes: Sequence[str]) -> dict[str, bytes]:
    """Run ``tbvar score`` in-process into each format; artifacts keyed ``format/file``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts = {}
    for suffix in suffixes:
        out = out_dir / f"out{suffix}"
        skipped = out_dir / f"out{suffix}.skipped.tsv"
        status = tbvar_main(["score", str(vcf), "--genome", str(genome), "--model", str(model),
                       "-o", str(out), "--device", "cpu", "--skipped", str(skipped), "-q",
                       *args])
        if status != 0:
            raise RuntimeError(f"tbvar score {vcf.name} {' '.join(args)} -> {out.name} "
                               f"exited with {status}")
        fmt = suffix.lstrip(".")
        for file, data in output_artifacts(out, inputs.root).items():
            artifacts[f"{fmt}/{file}"] = data
        artifacts[f"{fmt}/summary.json"] = normalise(Path(f"{out}.summary.json").read_bytes(),
                                                     inputs.root)
        artifacts[f"{fmt}/skipped.tsv"] = normalise(skipped.read_bytes(), inputs.root)
    return artifacts


def case_artifacts(inputs: Inputs, case_id: str, args: Sequence[str] = (),
                   **settings: object) -> dict[str, bytes]:
    """Compute the artifacts of one case (outputs go to ``ROOT/out/CASE``); ``args`` are added
    to its command lines and ``settings`` to its API call (another engine, say)."""
    out_dir = inputs.root / "out" / case_id.replace("/", "__")
    kind, name = case_id.split("/", 1)
    if case_id == API_CASE:
        return frame_artifacts(tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, EXAMPLE_MODEL,
                                               device="cpu", **settings))
    if kind == "example":
        return score_into(inputs, EXAMPLE_VCF, EXAMPLE_GENOME, EXAMPLE_MODEL,
                          [*EXAMPLE_OPTIONS[name], *args], out_dir,
                          FORMATS if name == "default" else OPTION_FORMATS)
    case = inputs.corpus[name]
    return score_into(inputs, inputs.root / "vcf" / name, inputs.genome, CORPUS_MODEL,
                      [*case.args, *args], out_dir, FORMATS)


def corpus_input_artifacts(inputs: Inputs) -> dict[str, bytes]:
    """The corpus genome and scorable VCFs (decompressed): a changed input shows here first."""
    files = {"genome.fa": inputs.genome.read_bytes()}
    for name in inputs.corpus:
        data = (inputs.root / "vcf" / name).read_bytes()
        files[name] = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return files


def digests(artifacts: dict[str, bytes]) -> dict[str, str]:
    """SHA-256 hex digest of each artifact."""
    return {name: hashlib.sha256(data).hexdigest() for name, data in artifacts.items()}


def first_difference(expected: str, actual: str) -> str:
    """The first differing line and tab-separated field of two texts, for assertion messages."""
    old, new = expected.splitlines(), actual.splitlines()
    for number, (a, b) in enumerate(zip(old, new, strict=False), start=1):
        if a != b:
            char = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                        min(len(a), len(b)))
            field = a[:char].count("\t")
            a_fields, b_fields = a.split("\t"), b.split("\t")
            return (f"first difference at line {number}, field {field + 1}:\n"
                    f"  golden: {a_fields[field][:300] if field < len(a_fields) else '(none)'}\n"
                    f"  now:    {b_fields[field][:300] if field < len(b_fields) else '(none)'}")
    if len(old) != len(new):
        return f"golden has {len(old)} lines, now {len(new)}"
    return "texts differ only in line endings"


def compare(case_id: str, actual: dict[str, str], expected: dict[str, str]) -> list[str]:
    """One line per artifact (``format/file``) whose digest differs, is missing or is new."""
    problems = []
    for name in sorted(expected.keys() | actual.keys()):
        if name not in actual:
            problems.append(f"{case_id}: {name}: in the golden digests but not produced")
        elif name not in expected:
            problems.append(f"{case_id}: {name}: produced but has no golden digest")
        elif actual[name] != expected[name]:
            problems.append(f"{case_id}: {name}: sha256 {actual[name][:16]}... differs from "
                            f"golden {expected[name][:16]}...")
    return problems


def compute_all(root: Path) -> tuple[dict[str, dict[str, str]], dict[Path, bytes]]:
    """Digests of every case (and of the corpus inputs) and the verbatim files' contents."""
    inputs = prepare(root)
    golden: dict[str, dict[str, str]] = {}
    verbatim: dict[Path, bytes] = {}
    for case_id in case_ids(list(inputs.corpus)):
        artifacts = case_artifacts(inputs, case_id)
        golden[case_id] = digests(artifacts)
        for (case, name), path in VERBATIM.items():
            if case == case_id:
                verbatim[path] = artifacts[name]
    golden[INPUTS_CASE] = digests(corpus_input_artifacts(inputs))
    return golden, verbatim


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.golden_outputs --write``: regenerate the golden files."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", required=True,
                        help=f"rewrite {DIGESTS.relative_to(REPO)} and the verbatim outputs")
    parser.parse_args(argv)
    torch.set_num_threads(1)  # as in the tests (tests/conftest.py)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        os.environ["TBVAR_CACHE"] = str(root / "cache")
        golden, verbatim = compute_all(root)
    DIGESTS.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    for path, data in verbatim.items():
        path.write_bytes(data)
    print(f"wrote {len(golden)} cases to {DIGESTS} and {len(verbatim)} verbatim files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
