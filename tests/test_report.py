"""tbvar.run_reader and tbvar report: every output format read back alike, the page's contents
against the run's files, and bad inputs as one-line errors with no report written."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tbvar
from tbvar.cli import main
from tbvar.errors import RunOutputError
from tbvar.run_reader import VARIANT_COLUMNS, HitRule, read_run
from tbvar.run_report import TOP_TABLE_ID, build_report, rank_variants
from tests.browser import image_stats, table_rows
from tests.conftest import EXAMPLE_GENOME, EXAMPLE_VCF, EXAMPLES, RUN_SUFFIXES


def expected_top(run: Path, n: int) -> pd.DataFrame:
    """The best ``n`` scored variants of a Parquet run by q, min_p, -max |lod|, file order."""
    rows = pd.read_parquet(run)
    rows = rows[rows["status"] == "ok"].assign(order=np.arange((rows["status"] == "ok").sum()),
                                               neg=lambda d: -d["max_abslod"])
    return rows.sort_values(["q", "min_p", "neg", "order"]).head(n)


def test_reader_reads_every_format_alike(example_runs: dict[str, Path]) -> None:
    runs = {suffix: read_run(path) for suffix, path in example_runs.items()}
    parquet = runs[".parquet"]
    table = pd.read_parquet(example_runs[".parquet"])
    assert list(parquet.variants.columns) == [c for c in VARIANT_COLUMNS if c in table]
    assert len(parquet.variants) == len(table) == 36
    np.testing.assert_array_equal(parquet.variants["q"], table["q"])
    for suffix, run in runs.items():
        summary = json.loads(Path(f"{example_runs[suffix]}.summary.json").read_text())
        assert run.summary == summary and run.summary_source == f"example{suffix}.summary.json"
        columns = list(run.variants.columns)
        pd.testing.assert_frame_equal(run.variants, parquet.variants[columns])
        assert rank_variants(run.variants[run.variants["status"] == "ok"])[0].index[:10].equals(
            expected_top(example_runs[".parquet"], 10).index)
    assert "combined_p" not in runs[".vcf"].variants  # not an INFO field
    assert runs[".vcf.gz"].provenance == runs[".parquet"].provenance
    assert runs[".parquet"].provenance["command"] == "tbvar score (test example)"
    assert " sha256=" in runs[".parquet"].provenance["background"]
    assert runs[".tsv"].provenance == {}


def test_task_hits_count_p_below_001(example_runs: dict[str, Path]) -> None:
    table = pd.read_parquet(example_runs[".parquet"])
    ok = table[table["status"] == "ok"]
    p_columns = [c for c in table if c.startswith("p.")]
    expected = (ok[p_columns] < 0.01).sum().to_numpy()
    for suffix in (".tsv", ".tsv.gz", ".parquet"):
        hits = read_run(example_runs[suffix]).task_hits
        assert hits is not None and hits.score == "p" and hits.rule == "p < 0.01"
        assert list(hits.counts.index) == [c[2:] for c in p_columns]
        np.testing.assert_array_equal(hits.counts.to_numpy(), expected)
        assert hits.scored == len(ok) == 30
    assert read_run(example_runs[".vcf"]).task_hits is None


def test_without_background_hits_use_lod_and_ranking_max_abslod(tmp_path: Path) -> None:
    run = tmp_path / "lod.tsv"
    tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, EXAMPLES / "model.safetensors", output=run,
                    scores=("lod",), progress=False)
    table = pd.read_csv(run, sep="\t")
    ok = table[table["status"] == "ok"]
    lod = [c for c in table if c.startswith("lod.")]
    for threshold in (0.2, 1.0):
        hits = read_run(run, HitRule(lod_min=threshold)).task_hits
        assert hits.rule == f"|lod| > {threshold:g}"
        np.testing.assert_array_equal(hits.counts.to_numpy(),
                                      (ok[lod].abs() > threshold).sum().to_numpy())
    html = build_report(read_run(run), top=5)
    best = ok.sort_values("max_abslod", ascending=False, kind="stable").head(5)
    assert [int(row[2]) for row in table_rows(html, TOP_TABLE_ID)] == best["pos"].tolist()
    assert "ranked by max |lod| (no p-values in this output" in html
    assert "p-values" in html and "<svg" in html and "min_p (n" not in html


def test_report_page_contents(example_runs: dict[str, Path], tmp_path: Path) -> None:
    run = example_runs[".parquet"]
    page = tbvar.report(run, tmp_path / "r.html", top=7)
    html = page.read_text()
    assert html.count("<svg") == 2  # effects (max |lod|, attention shift); p, combined p, q
    for title in ("max |lod| (n = 30)", "attention shift (n = 30)", "min_p (n = 30)",
                  "combined_p (n = 30)", "q (n = 30)"):
        assert f"<!-- {title} -->" in html, title  # matplotlib's note of a text path
    provenance = read_run(run).provenance
    assert "sha256=" in provenance["model"] and provenance["model"].split()[1] in html
    assert "n=10000 sample=8192" in html and "tbvar score (test example)" in html
    summary = json.loads(Path(f"{run}.summary.json").read_text())
    statuses = {status: int(n) for status, n, _ in table_rows(html, "status-counts")}
    assert statuses == summary["status_counts"]
    assert f"{summary['records']} records → {summary['alleles']} alleles, 30 scored" in html
    top = expected_top(run, 7)
    rows = table_rows(html, TOP_TABLE_ID)
    assert [(r[1], int(r[2]), r[4], r[5]) for r in rows] == list(
        zip(top["chrom"], top["pos"], top["ref"], top["alt"], strict=True))
    assert [r[0] for r in rows] == [str(i) for i in range(1, 8)]
    assert "ranked by q (Benjamini-Hochberg over the run), ties by min_p" in html
    hits = {task: int(n) for task, n, _ in table_rows(html, "task-hits")}
    assert hits == read_run(run).task_hits.counts.to_dict()
    assert "scored variant with p &lt; 0.01 in that task" in html
    for needle in ("src=", "@import", "<link", "<iframe", "<img"):
        assert needle not in html
    references = re.findall(r'href="([^"]*)"', html) + re.findall(r"url\(([^)]*)\)", html)
    assert references and {ref[0] for ref in references} == {"#"}  # SVG glyphs and clip paths


def test_report_of_vcf_and_tsv_say_what_they_lack(example_runs: dict[str, Path]) -> None:
    vcf = build_report(read_run(example_runs[".vcf.gz"]))
    assert "per-task hit counts need a TSV or Parquet output" in vcf
    assert "##tbvar_* header lines" in vcf and "task-hits" not in vcf
    assert vcf.count("<svg") == 2 and "combined_p (n" not in vcf and "min_p (n = 30)" in vcf
    tsv = build_report(read_run(example_runs[".tsv"]))
    assert "TSV outputs carry no provenance" in tsv and 'id="task-hits"' in tsv
    assert [r[:6] for r in table_rows(vcf, TOP_TABLE_ID)] == [
        r[:6] for r in table_rows(tsv, TOP_TABLE_ID)]


def test_report_notes_rows_that_differ_from_the_summary(example_runs: dict[str, Path],
                                                        tmp_path: Path) -> None:
    lines = example_runs[".tsv"].read_text().splitlines(keepends=True)
    filtered = tmp_path / "filtered.tsv"
    filtered.write_text("".join(line for line in lines if "\tok\t" in line or
                                line.startswith("record_index")))
    shutil.copy(f"{example_runs['.tsv']}.summary.json", f"{filtered}.summary.json")
    html = build_report(read_run(filtered))
    assert escape("The file's rows differ from these counts (ok 30)") in html
    Path(f"{filtered}.summary.json").unlink()
    html = build_report(read_run(filtered))
    assert escape("counts are the file's rows") in html
    assert {s: int(n) for s, n, _ in table_rows(html, "status-counts")} == {"ok": 30}


def test_panels_are_embedded_in_order(example_runs: dict[str, Path]) -> None:
    panels = ['<div class="panel">first &amp; one</div>', '<div class="panel">second</div>']
    html = build_report(read_run(example_runs[".parquet"]), top=3, panels=panels)
    assert "<h2>Explanations of the top variants</h2>" in html
    assert html.index(panels[0]) < html.index(panels[1])
    assert "Explanations" not in build_report(read_run(example_runs[".parquet"]), top=3)


def test_cli_report(example_runs: dict[str, Path], tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(example_runs[".vcf"]), "-o", str(out), "--top", "3"]) == 0
    assert capsys.readouterr().err == f"wrote {out}\n"
    assert len(table_rows(out.read_text(), TOP_TABLE_ID)) == 3
    run = tmp_path / "run.parquet"
    shutil.copy(example_runs[".parquet"], run)
    assert main(["report", str(run), "-q"]) == 0
    assert Path(f"{run}.report.html").is_file() and not capsys.readouterr().err


def _score(vcf_text: str, path: Path) -> Path:
    vcf = path.with_suffix(".in.vcf")
    vcf.write_text(vcf_text)
    tbvar.score_vcf(vcf, EXAMPLE_GENOME, EXAMPLES / "model.safetensors", output=path,
                    progress=False)
    return path


def _bad_inputs(example_runs: dict[str, Path], root: Path) -> dict[str, tuple[Path, str]]:
    """name → (input, expected message after 'PATH: ')."""
    header = "".join(line for line in EXAMPLE_VCF.read_text().splitlines(keepends=True)
                     if line.startswith("#"))
    unscored = header + "".join(line for line in EXAMPLE_VCF.read_text().splitlines(True)
                                if "NOTE=bad" in line)
    (root / "plain.tsv").write_text("chrom\tpos\nchr1\t5\n")
    (root / "fake.parquet").write_bytes(b"PAR1 not really")
    (root / "notes.txt.gz").write_bytes(b"\x1f\x8bnot gzip")
    (root / "other.json").write_text("{}")
    truncated = root / "truncated.tsv.gz"
    truncated.write_bytes(example_runs[".tsv.gz"].read_bytes()[:-400])
    broken = root / "broken.tsv"
    broken.write_text(example_runs[".tsv"].read_text().replace("\tok\t", "\tok\tx\t", 1))
    wrong_summary = root / "summary.tsv"
    shutil.copy(example_runs[".tsv"], wrong_summary)
    Path(f"{wrong_summary}.summary.json").write_text("{not json")
    vcf_no_status = root / "vcf_no_status.vcf"
    vcf_no_status.write_text(example_runs[".vcf"].read_text().replace(
        "TBVAR_STATUS=ok;", "", 1))
    return {
        "missing": (root / "missing.tsv", "no such file"),
        "suffix": (root / "other.json", "not a tbvar run output (the name ends in none of"),
        "not tbvar tsv": (root / "plain.tsv", "not a tbvar run output (no record_index"),
        "not tbvar vcf": (EXAMPLE_VCF, "not a tbvar run output (no TBVAR_STATUS INFO field"),
        "not parquet": (root / "fake.parquet", "not a readable Parquet file"),
        "not gzip": (root / "notes.txt.gz", "cannot be read as a TSV"),
        "truncated gzip": (truncated, "cannot be read as a tbvar TSV"),
        "bad row": (broken, "cannot be read as a tbvar TSV"),
        "vcf record": (vcf_no_status, "line "),
        "no variants tsv": (_score(header, root / "empty.tsv"),
                            "no scored variant to report: it holds no variants"),
        "no scored vcf": (_score(unscored, root / "unscored.vcf.gz"),
                          "no scored variant to report: none of its 6 alleles was scored"),
        "corrupt summary": (wrong_summary, "not a tbvar run summary"),
    }


def test_bad_inputs_are_one_line_errors_and_write_nothing(
        example_runs: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    cases = _bad_inputs(example_runs, inputs)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    kept = out_dir / "kept.html"
    kept.write_text("an earlier report")
    for name, (path, message) in cases.items():
        capsys.readouterr()
        assert main(["report", str(path), "-o", str(kept)]) == 1, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("tbvar: error: "), (name, err)
        named = Path(f"{path}.summary.json") if name == "corrupt summary" else path
        assert err.startswith(f"tbvar: error: {named}: {message}"), (name, err)
        assert list(out_dir.iterdir()) == [kept] and kept.read_text() == "an earlier report"
        with pytest.raises(RunOutputError):
            build_report(read_run(path))
    assert main(["report", str(example_runs[".tsv"]), "-o", str(example_runs[".tsv"])]) == 1
    assert "would overwrite the run output" in capsys.readouterr().err


def test_missing_output_directory(example_runs: dict[str, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no" / "r.html"
    assert main(["report", str(example_runs[".tsv"]), "-o", str(target)]) == 1
    assert capsys.readouterr().err == (f"tbvar: error: {target}: output directory "
                                       f"{target.parent} does not exist\n")


def test_reader_reads_gzip_tsv_by_content(example_runs: dict[str, Path],
                                          tmp_path: Path) -> None:
    plain = tmp_path / "plain.tsv.gz"  # named .gz but not compressed, and the reverse
    plain.write_bytes(example_runs[".tsv"].read_bytes())
    packed = tmp_path / "packed.tsv"
    packed.write_bytes(gzip.compress(example_runs[".tsv"].read_bytes()))
    expected = read_run(example_runs[".tsv"]).variants
    for path in (plain, packed):
        pd.testing.assert_frame_equal(read_run(path).variants, expected)


@pytest.mark.parametrize("suffix", RUN_SUFFIXES)
def test_every_format_gives_a_page(example_runs: dict[str, Path], suffix: str) -> None:
    html = build_report(read_run(example_runs[suffix]), top=4)
    assert html.startswith("<!DOCTYPE html>") and len(table_rows(html, TOP_TABLE_ID)) == 4


def test_readme_screenshot_is_an_image_of_the_stated_size() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "![Report of the README example run](docs/img/report.png)" in readme
    width, height = map(int, re.search(r"\((\d+)×(\d+)\s+screenshot", readme).groups())
    size, spread, inked = image_stats(Path(__file__).resolve().parents[1] / "docs/img/report.png")
    assert size == (width, height) and spread > 0.05 and inked > 0.02
