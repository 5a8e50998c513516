"""Interruption: no partial output, clean one-line stop, --resume gives identical bytes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tbvar import writers
from tbvar.cli import main
from tests.vcf_corpus import header, snv, write_genome, write_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("resume")
    vcf = root / "many.vcf"
    records = [snv("chr1", 1 + (i * 37) % 1000) for i in range(1200)]
    vcf.write_text("\n".join(header() + records) + "\n")
    return {"vcf": vcf, "genome": write_genome(root),
            "model": write_model(root / "tiny.safetensors"), "records": len(records)}


def _args(setup: dict, out: Path, *extra: str) -> list[str]:
    return ["score", str(setup["vcf"]), "--genome", str(setup["genome"]), "--model",
            str(setup["model"]), "-o", str(out), "--device", "cpu", "--chunk-size", "10",
            "--batch-size", "64", "--skipped", f"{out}.skipped.tsv", *extra]


def _outputs(out: Path) -> dict[str, bytes]:
    return {suffix: Path(f"{out}{suffix}").read_bytes()
            for suffix in ("", ".summary.json", ".skipped.tsv")}


def _reference(setup: dict, out: Path) -> dict[str, bytes]:
    """Outputs of an uninterrupted run into ``out`` (then moved away)."""
    assert main(_args(setup, out, "-q")) == 0
    expected = _outputs(out)
    for suffix in expected:
        Path(f"{out}{suffix}").unlink()
    return expected


def _wait_for_chunks(partial: Path, proc: subprocess.Popen, n: int) -> None:
    deadline = time.monotonic() + 120
    while len(list(partial.glob("chunk-*.json"))) < n:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.fixture(scope="module")
def reference_vcf(setup: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """Path and bytes of an uninterrupted .vcf.gz run (the path is in the header)."""
    out = tmp_path_factory.mktemp("interrupted") / "scores.vcf.gz"
    return out, _reference(setup, out)


@pytest.mark.parametrize("how", ["kill9", "sigterm"])
def test_interrupted_subprocess_then_resume(setup: dict, reference_vcf: tuple, how: str,
                                            capsys: pytest.CaptureFixture) -> None:
    out, expected = reference_vcf
    tmp_path = out.parent
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tbvar.cli", *_args(setup, out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = Path(f"{out}.partial")
    _wait_for_chunks(partial, proc, 5)
    proc.send_signal(signal.SIGKILL if how == "kill9" else signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    if how == "kill9":
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 143
        assert stderr.count("\n") == 1 and stderr.startswith("tbvar: terminated; no output")
        assert "--resume" in stderr and "Traceback" not in stderr
    # a killed run cannot remove its lock file; the next run finds it stale (nobody holds it)
    left = ["scores.vcf.gz.lock"] if how == "kill9" else []
    assert sorted(p.name for p in tmp_path.iterdir()) == [*left, "scores.vcf.gz.partial"]
    done = len(list(partial.glob("chunk-*.json")))
    assert 5 <= done < setup["records"] // 10

    capsys.readouterr()
    assert main(_args(setup, out, "--resume")) == 0
    assert f"resuming: {done} finished chunk(s)" in capsys.readouterr().err
    assert _outputs(out) == expected
    assert not partial.exists() and not Path(f"{out}.lock").exists()
    for suffix in expected:
        Path(f"{out}{suffix}").unlink()


def test_ctrl_c_in_process_then_resume_parquet(setup: dict, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "scores.parquet"
    expected = _reference(setup, out)
    encode = writers.TableWriter.encode
    calls = []

    def interrupt_at_chunk_7(self, chunk):
        calls.append(chunk.index)
        if chunk.index == 7:
            raise KeyboardInterrupt
        return encode(self, chunk)

    monkeypatch.setattr(writers.TableWriter, "encode", interrupt_at_chunk_7)
    assert main(_args(setup, out)) == 130
    err = capsys.readouterr().err
    assert err.startswith("tbvar: interrupted; no output written") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet.partial"]

    calls.clear()
    monkeypatch.setattr(writers.TableWriter, "encode", encode)
    assert main(_args(setup, out, "--resume", "-q")) == 0
    assert _outputs(out) == expected


def test_resume_with_changed_options_starts_over(setup: dict, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "scores.tsv"
    partial = Path(f"{out}.partial")
    encode = writers.TableWriter.encode

    def interrupt(self, chunk):
        if chunk.index == 3:
            raise KeyboardInterrupt
        return encode(self, chunk)

    monkeypatch.setattr(writers.TableWriter, "encode", interrupt)
    assert main(_args(setup, out, "--top-k", "2")) == 130
    assert len(list(partial.glob("chunk-*.json"))) == 3
    monkeypatch.setattr(writers.TableWriter, "encode", encode)
    capsys.readouterr()
    assert main(_args(setup, out, "--resume", "--top-k", "3")) == 0
    assert "not resuming" in capsys.readouterr().err
    resumed = _outputs(out)
    assert not partial.exists()
    for suffix in resumed:
        Path(f"{out}{suffix}").unlink()
    assert main(_args(setup, out, "--top-k", "3", "-q")) == 0
    assert _outputs(out) == resumed


def test_foreign_partial_directory_is_not_deleted(setup: dict, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "scores.vcf"
    foreign = Path(f"{out}.partial")
    foreign.mkdir()
    (foreign / "precious.txt").write_text("mine")
    assert main(_args(setup, out)) == 1
    assert "not a tbvar partial-run directory" in capsys.readouterr().err
    assert (foreign / "precious.txt").read_text() == "mine" and not out.exists()


def test_disk_full_at_assembly_keeps_the_chunks_for_resume(setup: dict, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    import errno

    out = tmp_path / "scores.tsv"
    expected = _reference(setup, out)

    def full(self, target, parts, extra_header=(), q=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(writers.TableWriter, "assemble", full)
    capsys.readouterr()
    assert main(_args(setup, out, "-q")) == 1  # -q: no progress lines before the error
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(no space left on device); no output was written" in err
    assert f"the 120 finished chunk(s) are kept in {out}.partial" in err and "--resume" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.tsv.partial"]
    monkeypatch.undo()
    assert main(_args(setup, out, "--resume", "-q")) == 0
    assert _outputs(out) == expected


def test_read_only_output_directory_is_said_in_words(setup: dict, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    import errno

    from tbvar import partial

    out = tmp_path / "scores.vcf"

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", f"{out}.partial")

    monkeypatch.setattr(partial.PartialRun, "__init__", read_only)
    assert main(_args(setup, out)) == 1
    err = capsys.readouterr().err
    assert err == (f"tbvar: error: cannot write {out}.partial (read-only file system); no "
                   "output was written; nothing was left behind\n")
    assert list(tmp_path.iterdir()) == []
