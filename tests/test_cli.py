"""The ``tbvar`` command line: end to end, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cyvcf2 import VCF

from tbvar.cli import main

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_score_writes_vcf_and_prints_summary(tmp_path: Path, small_model_file: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scored.vcf.gz"
    code, _, err = run(["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model",
                        str(small_model_file), "-o", str(out), "--device", "cpu",
                        "--batch-size", "8"], capsys)
    assert code == 0
    assert "35 records -> 36 alleles" in err
    assert "REF mismatch policy: skip" in err
    assert sum(1 for _ in VCF(str(out))) == 35


def test_score_tsv_with_task_subset(tmp_path: Path, small_model_file: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scored.tsv"
    code, _, _ = run(["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model",
                      str(small_model_file), "-o", str(out), "--tasks", "0,task4",
                      "--scores", "abslod,ref", "--quiet", "--no-rc"], capsys)
    assert code == 0
    header = out.read_text().splitlines()[0].split("\t")
    assert [c for c in header if "|" in c and not c.startswith("max")] == [
        "abslod.NA|task0|None", "abslod.NA|task4|None", "ref.NA|task0|None",
        "ref.NA|task4|None"]


@pytest.mark.parametrize("case", ["missing model", "garbage vcf", "missing genome",
                                  "bad score", "bad output name"])
def test_errors_are_one_line(tmp_path: Path, small_model_file: Path, case: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.vcf"
    garbage.write_bytes(b"\x00\x01 this is not a vcf\n")
    args = {
        "missing model": [str(EXAMPLE_VCF), "--model", str(tmp_path / "none.safetensors")],
        "garbage vcf": [str(garbage), "--model", str(small_model_file)],
        "missing genome": [str(EXAMPLE_VCF), "--model", str(small_model_file),
                           "--genome", str(tmp_path / "none.fa")],
        "bad score": [str(EXAMPLE_VCF), "--model", str(small_model_file), "--scores", "zzz"],
        "bad output name": [str(EXAMPLE_VCF), "--model", str(small_model_file),
                            "-o", str(tmp_path / "out.xyz")],
    }[case]
    if "--genome" not in args:
        args += ["--genome", str(EXAMPLE_GENOME)]
    code, _, err = run(["score", *args, "--device", "cpu"], capsys)
    assert code == 1
    lines = [line for line in err.splitlines() if not line.startswith("[W::")]
    assert len(lines) == 1 and lines[0].startswith("tbvar: error: "), err
    assert "Traceback" not in err
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_model_info_prints_metadata(small_model_file: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["model", "info", str(small_model_file)], capsys)
    assert code == 0
    assert "RANDOM" in out and "5 tasks" in out and "hg19" in out


def test_console_script_runs_in_a_subprocess(tmp_path: Path, small_model_file: Path) -> None:
    out = tmp_path / "o.parquet"
    result = subprocess.run(
        [sys.executable, "-m", "tbvar.cli", "score", str(EXAMPLE_VCF), "--genome",
         str(EXAMPLE_GENOME), "--model", str(small_model_file), "-o", str(out), "--device",
         "cpu"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.exists() and "ok 30" in result.stderr
