"""Two runs into one output: the second is refused, naming the first one's PID."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tbvar.cli import main
from tbvar.output_lock import OutputLock, OutputLockedError, lock_path
from tests.vcf_corpus import header, snv, write_genome, write_model

REPO = Path(__file__).resolve().parents[1]


def test_second_lock_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    out = tmp_path / "scores.tsv"
    with OutputLock(out):
        assert lock_path(out).read_text() == f"{os.getpid()}\n"
        with pytest.raises(OutputLockedError, match=f"PID {os.getpid()}"), OutputLock(out):
            pass
        assert lock_path(out).exists()  # the refused attempt did not disturb the holder
    assert not lock_path(out).exists()
    with OutputLock(out):  # free again
        pass


def test_lock_file_of_a_dead_run_is_stale(tmp_path: Path) -> None:
    out = tmp_path / "scores.tsv"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    lock_path(out).write_text(dead.stdout)  # left by a killed run: nobody holds the flock
    with OutputLock(out):
        assert lock_path(out).read_text() == f"{os.getpid()}\n"
    assert not lock_path(out).exists()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("lock")
    vcfs = {}
    for name, first in (("a", 1), ("b", 500)):
        records = [snv("chr1", first + (i * 7) % 400, vid=f"{name}{i}") for i in range(600)]
        vcfs[name] = root / f"{name}.vcf"
        vcfs[name].write_text("\n".join(header() + records) + "\n")
    return {"vcf": vcfs, "genome": write_genome(root),
            "model": write_model(root / "tiny.safetensors")}


def _args(inputs: dict, name: str, out: Path, *extra: str) -> list[str]:
    return ["score", str(inputs["vcf"][name]), "--genome", str(inputs["genome"]), "--model",
            str(inputs["model"]), "-o", str(out), "--device", "cpu", "--chunk-size", "5",
            "--batch-size", "8", *extra]


def _start(inputs: dict, name: str, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "tbvar.cli", *_args(inputs, name, out, *extra)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_chunk(out: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not list(Path(f"{out}.partial").glob("chunk-*.json")):
        assert proc.poll() is None, "the first run ended before the second started"
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize("second", ["other_input", "resume_same_job"])
def test_two_runs_at_once_into_one_output(inputs: dict, tmp_path: Path, second: str,
                                          capsys: pytest.CaptureFixture) -> None:
    alone = tmp_path / "alone.tsv"
    assert main(_args(inputs, "a", alone, "-q")) == 0
    out = tmp_path / "scores.tsv"
    first = _start(inputs, "a", out)
    _wait_for_chunk(out, first)
    capsys.readouterr()
    if second == "other_input":
        code = main(_args(inputs, "b", out))
    else:
        code = main(_args(inputs, "a", out, "--resume"))
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and f"(PID {first.pid})" in err and str(out) in err
    assert first.wait(timeout=120) == 0, first.stderr.read()
    # the first run's output holds its own records only, as a run alone gives them
    assert out.read_bytes() == alone.read_bytes()
    assert not lock_path(out).exists() and not Path(f"{out}.partial").exists()
