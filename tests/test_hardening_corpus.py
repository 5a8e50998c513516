"""Every corpus VCF scores with counts adding up, or fails with one line naming file and line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pysam
import pytest
from cyvcf2 import VCF

from tbvar.cli import main
from tests.vcf_corpus import build_corpus, write_genome, write_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("corpus")
    cases = build_corpus(root / "vcf")
    return {"dir": root / "vcf", "cases": {c.name: c for c in cases},
            "genome": write_genome(root), "model": write_model(root / "tiny.safetensors")}


def _data_lines(path: Path) -> list[str]:
    opener = pysam.BGZFile if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(str(path), "rb") as handle:
        text = handle.read().decode()
    return [line.rstrip("\r") for line in text.split("\n") if line and not line.startswith("#")]


def _header_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        with pysam.BGZFile(str(path), "rb") as handle:
            raw = handle.read()
    return [line.rstrip("\r") for line in raw.decode().split("\n") if line.startswith("##")]


def _score(corpus: dict, name: str, out: Path, extra: list[str] = ()) -> list[str]:
    case = corpus["cases"][name]
    return ["score", str(corpus["dir"] / name), "--genome", str(corpus["genome"]),
            "--model", str(corpus["model"]), "-o", str(out), "--device", "cpu",
            *case.args, *extra]


def _names(kind: str) -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cases = build_corpus(Path(tmp))
    return [c.name for c in cases if (c.error is None) == (kind == "ok")]


OK_NAMES = _names("ok")
ERROR_NAMES = _names("error")


def test_corpus_size() -> None:
    # the list: versions, headers, samples, alleles, contigs, encodings, containers
    assert (len(OK_NAMES), len(ERROR_NAMES)) == (24, 9)


@pytest.mark.parametrize("name", OK_NAMES)
def test_scorable_file(corpus: dict, name: str, tmp_path: Path,
                       capfd: pytest.CaptureFixture) -> None:
    case = corpus["cases"][name]
    out = tmp_path / "out.vcf.gz"
    skipped = tmp_path / "skipped.tsv"
    assert main(_score(corpus, name, out, ["--skipped", str(skipped)])) == 0
    err = capfd.readouterr().err  # file-descriptor level: htslib writes to fd 2 directly
    assert "Traceback" not in err and "[W::" not in err and "[E::" not in err
    summary = json.loads(Path(f"{out}.summary.json").read_text())
    assert summary["records"] == case.records
    assert summary["status_counts"] == case.statuses
    assert sum(summary["status_counts"].values()) == summary["alleles"]
    assert not Path(f"{out}.partial").exists()

    # every input record and sample column is passed through; TBVAR fields only added
    source = corpus["dir"] / name
    in_lines = _data_lines(source) if not name.endswith(".bcf") else [
        str(v).rstrip("\n") for v in VCF(str(source))]
    if case.args[:1] == ["--region"]:
        in_lines = [str(v).rstrip("\n") for v in VCF(str(source))("chr1:100-400")]
    out_lines = _data_lines(out)
    assert len(out_lines) == case.records == len(in_lines)
    for before, after in zip(in_lines, out_lines, strict=True):
        b, a = before.split("\t"), after.split("\t")
        assert a[:7] == b[:7] and a[8:] == b[8:]
        kept = [x for x in a[7].split(";") if not x.startswith("TBVAR_")]
        assert kept == [x for x in b[7].split(";") if x != "."]
    out_header = _header_lines(out)
    assert set(_header_lines(source) if not name.endswith(".bcf") else []) <= set(out_header)
    assert any(line.startswith("##tbvar_summary=") for line in out_header)

    # the annotated VCF re-reads with cyvcf2 and pysam, same records
    assert sum(1 for _ in VCF(str(out))) == case.records
    with pysam.VariantFile(str(out)) as reader:
        assert sum(1 for _ in reader) == case.records
    unscored = pd.read_csv(skipped, sep="\t", keep_default_na=False)
    assert len(unscored) == summary["alleles"] - summary["scored"]
    assert set(unscored["status"]) == set(case.statuses) - {"ok"}


@pytest.mark.parametrize("name", ERROR_NAMES)
def test_malformed_file(corpus: dict, name: str, tmp_path: Path,
                        capfd: pytest.CaptureFixture) -> None:
    case = corpus["cases"][name]
    out = tmp_path / "out.vcf.gz"
    assert main(_score(corpus, name, out)) == 1
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tbvar: error: ")
    assert "Traceback" not in err
    line, reason = case.error
    assert str(corpus["dir"] / name) in err and reason in err
    if line is not None:
        assert f"line {line}:" in err
    assert not out.exists() and not Path(f"{out}.partial").exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_header_lines_are_defined_in_output(corpus: dict, tmp_path: Path) -> None:
    out = tmp_path / "out.vcf"
    assert main(_score(corpus, "missing_header_lines.vcf", out, ["-q"])) == 0
    header = _header_lines(out)
    for expected in ("##INFO=<ID=DP,Number=.,Type=String,",
                     "##INFO=<ID=SOMATIC,Number=0,Type=Flag,",
                     "##FORMAT=<ID=AD,Number=.,Type=String,", "##FORMAT=<ID=GT,",
                     "##FILTER=<ID=q10,", "##contig=<ID=chr1>"):
        assert any(line.startswith(expected) for line in header), expected
    summary = json.loads(Path(f"{out}.summary.json").read_text())
    assert len(summary["header_added"]) == 6
    # cyvcf2 reads the output without adding dummy definitions of its own
    reader = VCF(str(out))
    before = reader.raw_header
    list(reader)
    assert reader.raw_header == before


def test_flip_swaps_alleles_and_flags(corpus: dict, tmp_path: Path) -> None:
    out = tmp_path / "out.tsv"
    assert main(_score(corpus, "ref_mismatch_flip.vcf", out, ["-q"])) == 0
    table = pd.read_csv(out, sep="\t", keep_default_na=False)
    first = _data_lines(corpus["dir"] / "ref_mismatch_flip.vcf")[0].split("\t")
    row = table.iloc[0]
    assert (row["status"], bool(row["swapped"]), bool(row["ref_match"])) == ("ok", True, False)
    assert (row["ref"], row["alt"]) == (first[4], first[3])  # scored genome allele -> VCF REF
    assert table.iloc[1]["status"] == "ref_mismatch" and not table.iloc[1]["swapped"]
    vcf_out = tmp_path / "out.vcf"
    assert main(_score(corpus, "ref_mismatch_flip.vcf", vcf_out, ["-q"])) == 0
    assert "TBVAR_FLAGS=ref_mismatch&swapped" in _data_lines(vcf_out)[0]


def test_flip_scores_equal_the_swapped_variant(corpus: dict, tmp_path: Path) -> None:
    """Scoring REF/ALT swapped by --ref-mismatch flip equals scoring the corrected record."""
    first = _data_lines(corpus["dir"] / "ref_mismatch_flip.vcf")[0].split("\t")
    fixed = tmp_path / "fixed.vcf"
    lines = [line for line in (corpus["dir"] / "ref_mismatch_flip.vcf").read_text()
             .splitlines() if line.startswith("#")]
    fixed.write_text("\n".join(lines + ["\t".join(first[:3] + [first[4], first[3]] + first[5:])])
                     + "\n")
    flipped_out, fixed_out = tmp_path / "a.tsv", tmp_path / "b.tsv"
    assert main(_score(corpus, "ref_mismatch_flip.vcf", flipped_out, ["-q"])) == 0
    assert main(["score", str(fixed), "--genome", str(corpus["genome"]), "--model",
                 str(corpus["model"]), "-o", str(fixed_out), "-q", "--device", "cpu"]) == 0
    a = pd.read_csv(flipped_out, sep="\t").iloc[0]
    b = pd.read_csv(fixed_out, sep="\t").iloc[0]
    scores = [c for c in a.index if c.startswith(("lod.", "diff.", "attn_", "max_"))]
    assert a[scores].tolist() == b[scores].tolist()


def test_contig_map_file(corpus: dict, tmp_path: Path) -> None:
    mapping = tmp_path / "map.tsv"
    mapping.write_text("# vcf\tfasta\nchrX\tchr6_ssto_hap7\n\n")
    out = tmp_path / "out.vcf"
    assert main(_score(corpus, "contig_names.vcf", out, ["-q", "--contig-map", str(mapping)])
                ) == 0
    summary = json.loads(Path(f"{out}.summary.json").read_text())
    assert summary["status_counts"] == {"ok": 5, "unknown_contig": 1}
    bad = tmp_path / "bad.tsv"
    bad.write_text("chrX\n")
    assert main(_score(corpus, "contig_names.vcf", out, ["--contig-map", str(bad)])) == 1


def test_empty_vcf_gives_empty_outputs_with_full_schema(corpus: dict, tmp_path: Path) -> None:
    template = tmp_path / "template.parquet"
    assert main(_score(corpus, "v4.2.vcf", template, ["-q"])) == 0
    for suffix in (".parquet", ".tsv", ".tsv.gz", ".vcf.gz", ".bcf"):
        out = tmp_path / f"empty{suffix}"
        assert main(_score(corpus, "empty.vcf", out, ["-q"])) == 0
        assert json.loads(Path(f"{out}.summary.json").read_text())["records"] == 0
        if suffix == ".parquet":
            empty, full = pd.read_parquet(out), pd.read_parquet(template)
            assert len(empty) == 0 and list(empty.columns) == list(full.columns)
            assert empty.dtypes.astype(str).tolist() == full.dtypes.astype(str).tolist()
        elif suffix.startswith(".tsv"):
            empty = pd.read_csv(out, sep="\t")
            assert len(empty) == 0
            assert list(empty.columns) == list(pd.read_parquet(template).columns)
        else:
            assert sum(1 for _ in VCF(str(out))) == 0


def test_subprocess_error_is_one_line(corpus: dict, tmp_path: Path) -> None:
    out = tmp_path / "out.vcf"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "tbvar.cli",
                           *_score(corpus, "bad_pos.vcf", out)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 1
    line, reason = corpus["cases"]["bad_pos.vcf"].error
    assert proc.stderr.count("\n") == 1 and f"line {line}: {reason}" in proc.stderr
    assert proc.stdout == "" and not out.exists()


def test_score_variants_writes_skipped_rows_with_row_numbers(corpus: dict,
                                                            tmp_path: Path) -> None:
    import tbvar

    frame = pd.DataFrame({"chrom": ["chr1", "chrX", "chr1", "1"],
                          "pos": [250, 10, 260, 270],
                          "ref": ["N", "A", "A", "A"], "alt": ["G", "G", "<DEL>", "C,R"]})
    out, skipped = tmp_path / "v.parquet", tmp_path / "skipped.tsv"
    summary = tbvar.score_variants(frame, corpus["genome"], corpus["model"], output=out,
                                   skipped=skipped, device="cpu", chunk_size=3,
                                   ref_mismatch="use-vcf")
    table = pd.read_csv(skipped, sep="\t", keep_default_na=False)
    assert table[["line", "chrom", "status"]].values.tolist() == [
        [2, "chrX", "unknown_contig"], [3, "chr1", "symbolic_allele"],
        [4, "1", "ambiguous_allele"]]
    assert summary.to_dict()["status_counts"] == {"ok": 2, "unknown_contig": 1,
                                                  "symbolic_allele": 1, "ambiguous_allele": 1}
    assert len(pd.read_parquet(out)) == 5
