"""Host worker processes (``--host-workers``): the same bytes, resume, errors, options."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import tbvar
from tbvar.calibration import BackgroundSource, calibrate
from tbvar.cli import main
from tbvar.errors import VariantInputError
from tbvar.options import MAX_HOST_WORKERS, RunOptions, host_workers
from tbvar.output import ChunkSaver
from tbvar.stage import HostStage, ScoredChunk
from tbvar.variants import VariantChunk
from tests.vcf_corpus import base, header, other, rec, snv, write_genome, write_model


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """300 records: SNVs, multi-allelic and duplicated records, unscorable ones."""
    root = tmp_path_factory.mktemp("host")
    records = []
    for i in range(300):
        pos = 1 + (i * 37) % 1000
        ref = base("chr1", pos).upper()
        if i % 7 == 0:
            records.append(rec("chr1", pos, ref, f"{other(ref)},{other(other(ref))}"))
        elif i % 11 == 0:
            records.append(rec("chr1", pos, ref, "<DEL>"))
        elif i % 13 == 0:
            records.append(records[-1])
        else:
            records.append(snv("chr1", pos))
    vcf = root / "in.vcf"
    vcf.write_text("\n".join(header() + records) + "\n")
    return {"vcf": vcf, "genome": write_genome(root),
            "model": write_model(root / "tiny.safetensors")}


def disk_full_at(monkeypatch: pytest.MonkeyPatch, index: int) -> Callable:
    """Make saving chunk ``index`` fail as on a full disk (in whichever process saves it, a
    forked worker too); the original ``ChunkSaver.__call__``."""
    save = ChunkSaver.__call__

    def disk_full(self: ChunkSaver, chunk: VariantChunk, scored: ScoredChunk) -> None:
        if chunk.index == index:
            raise OSError(errno.ENOSPC, "No space left on device", f"chunk-{index:06d}")
        save(self, chunk, scored)

    monkeypatch.setattr(ChunkSaver, "__call__", disk_full)
    return save


def _args(setup: dict, out: Path, *extra: str) -> list[str]:
    target = f"{out}/" if out.name == "dataset" else str(out)  # a Parquet dataset: DIR/
    return ["score", str(setup["vcf"]), "--genome", str(setup["genome"]), "--model",
            str(setup["model"]), "-o", target, "--device", "cpu", "--chunk-size", "10",
            "--batch-size", "4", "--skipped", f"{out}.skipped.tsv", "-q", *extra]


def _outputs(out: Path) -> dict[str, bytes]:
    files = [out] if out.is_file() else sorted(out.iterdir())
    return {**{f.name: f.read_bytes() for f in files},
            **{suffix: Path(f"{out}{suffix}").read_bytes()
               for suffix in (".summary.json", ".skipped.tsv")}}


def _run(setup: dict, out: Path, *extra: str) -> dict[str, bytes]:
    """The outputs of a run into ``out`` (the path is in the header), then removed."""
    assert main(_args(setup, out, *extra)) == 0
    outputs = _outputs(out)
    for path in [out, Path(f"{out}.summary.json"), Path(f"{out}.skipped.tsv")]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert not list(out.parent.glob(f"{out.name}.*"))  # no partial directory, no lock left
    return outputs


@pytest.mark.parametrize("name", ["scores.vcf.gz", "scores.parquet", "scores.tsv", "dataset/"])
def test_host_workers_write_the_same_bytes(setup: dict, tmp_path: Path, name: str) -> None:
    one = _run(setup, tmp_path / name)
    assert _run(setup, tmp_path / name, "--host-workers", "2") == one
    assert _run(setup, tmp_path / name, "--host-workers", "3") == one


def test_host_workers_with_a_background_write_the_same_q_values(setup: dict,
                                                                 tmp_path: Path) -> None:
    background = tmp_path / "bg.safetensors"
    calibrate(setup["genome"], setup["model"], background, source=BackgroundSource(random=300),
              sample_size=100, device="cpu", batch_size=4)
    out = tmp_path / "scores.tsv"
    one = _run(setup, out, "--background", str(background), "--scores", "lod,p")
    assert b"\tq" in one["scores.tsv"].split(b"\n")[0]
    assert _run(setup, out, "--background", str(background), "--scores", "lod,p",
                "--host-workers", "2") == one


def test_host_workers_give_the_same_frame(setup: dict) -> None:
    settings = {"device": "cpu", "chunk_size": 10, "batch_size": 4}
    one = tbvar.score_vcf(setup["vcf"], setup["genome"], setup["model"], **settings)
    two = tbvar.score_vcf(setup["vcf"], setup["genome"], setup["model"], host_workers=2,
                          **settings)
    pd.testing.assert_frame_equal(two, one, check_exact=True)
    assert two.attrs == one.attrs


def test_resume_after_a_failed_save_reuses_the_saved_chunks(
        setup: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "scores.vcf"
    reference = _run(setup, out)
    save = disk_full_at(monkeypatch, 12)
    assert main(_args(setup, out, "--host-workers", "2")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no space left on device" in err and "--resume" in err
    done = sorted(int(p.stem.split("-")[1]) for p in Path(f"{out}.partial").glob("chunk-*.json"))
    assert set(range(12)) <= set(done) and 12 not in done

    def only_unsaved(self, chunk, scored):
        assert chunk.index not in done, f"chunk {chunk.index} was saved before"
        save(self, chunk, scored)

    monkeypatch.setattr(ChunkSaver, "__call__", only_unsaved)
    assert main(_args(setup, out, "--host-workers", "2", "--resume")) == 0
    assert _outputs(out) == reference
    assert not Path(f"{out}.partial").exists()


def test_an_error_in_a_worker_is_one_line_and_leaves_nothing(
        setup: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    finish = HostStage.finish

    def bad_chunk_5(self, prepared, scores):
        if prepared.chunk.index == 5:
            raise VariantInputError("line 57: something wrong")
        return finish(self, prepared, scores)

    monkeypatch.setattr(HostStage, "finish", bad_chunk_5)
    out = tmp_path / "scores.tsv"
    assert main(_args(setup, out, "--host-workers", "2")) == 1
    err = capsys.readouterr().err
    assert err == "tbvar: error: line 57: something wrong\n"
    assert list(tmp_path.iterdir()) == []


def test_a_worker_that_dies_stops_the_run(setup: dict, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    prepare = HostStage.prepare

    def die(self, chunk):  # in a worker; this process prepares the empty template chunk
        if len(chunk.alleles):
            os._exit(3)
        return prepare(self, chunk)

    monkeypatch.setattr(HostStage, "prepare", die)
    with pytest.raises(RuntimeError, match=r"host worker tbvar-host-\d stopped \(exit code 3\)"):
        tbvar.score_vcf(setup["vcf"], setup["genome"], setup["model"], device="cpu",
                        host_workers=2)


def test_host_worker_options() -> None:
    assert host_workers(RunOptions(), "cpu") == 1
    assert host_workers(RunOptions(host_workers=3), "cpu") == 3
    expected = max(1, min(MAX_HOST_WORKERS, len(os.sched_getaffinity(0)) - 1))
    assert host_workers(RunOptions(), "cuda:0") == expected
    with pytest.raises(ValueError, match="host_workers must be positive"):
        RunOptions(host_workers=0)
    with pytest.raises(ValueError, match="host_workers needs engine='local'"):
        RunOptions(host_workers=2, engine="ray")
