"""The Ray engine on a local two-CPU Ray cluster: the outputs of the single-process run.

One cluster (and, across runs, one pool of two workers) serves the whole module. The golden
cases (example option sets, every scorable hardening-corpus file in every format, the API
frame) must give the golden digests of single-process runs; the example with a background
(q-values over the run) and a 10,000-variant synthetic VCF (indexed: read by the workers)
must give the local run's bytes; so must a run whose worker is killed mid-run and a run whose
driver is killed, then resumed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pysam
import pytest
import ray
import ray.cloudpickle
import torch

import tbvar
from tbvar import ray_engine, writers
from tbvar.cli import main
from tbvar.model import TBiNet
from tbvar.options import RunOptions
from tbvar.ray_engine import resolve_workers
from tbvar.run_setup import load_model
from tbvar.score_cli import recorded_command
from tbvar.vcf_reader import VariantInputError
from tests.golden_outputs import (
    CORPUS_MODEL,
    DIGESTS,
    FORMATS,
    Inputs,
    case_artifacts,
    case_ids,
    compare,
    digests,
    prepare,
    scorable_corpus_names,
)

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF, EXAMPLES

REPO = Path(__file__).resolve().parents[1]
GOLDEN = json.loads(DIGESTS.read_text())
RAY_ARGS = ["--engine", "ray", "--workers", "2"]
BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
CONTIGS = {"s1": 30_000, "s2": 20_000, "s3": 12_000}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A local Ray cluster of 2 CPUs; its address. Workers use the tests' cache directory and
    run at niceness 0 (Ray's default 15 starves them on a machine shared with other jobs)."""
    environment = {"TBVAR_CACHE": str(tmp_path_factory.getbasetemp() / "tbvar-cache"),
                   "RAY_worker_niceness": "0"}
    previous = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # ExitOnce, below
    yield ray.get_runtime_context().gcs_address
    ray_engine.close_workers()
    ray.shutdown()
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def golden_inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    return prepare(tmp_path_factory.mktemp("golden-ray"))


@pytest.mark.parametrize("case_id", case_ids(scorable_corpus_names()))
def test_golden_outputs_on_ray(cluster: str, golden_inputs: Inputs, case_id: str) -> None:
    artifacts = case_artifacts(golden_inputs, case_id, RAY_ARGS, engine="ray", workers=2)
    problems = compare(case_id, digests(artifacts), GOLDEN[case_id])
    assert not problems, "\n".join(problems)


def _outputs(out: Path | str) -> dict[str, bytes]:
    """The bytes of an output (each file of a dataset directory), its summary and skipped
    files."""
    main = Path(out)
    files = {suffix: Path(f"{main}{suffix}").read_bytes()
             for suffix in (".summary.json", ".skipped.tsv")}
    if main.is_dir():
        return {**files, **{f"/{path.name}": path.read_bytes() for path in main.iterdir()}}
    return {**files, "": main.read_bytes()}


def _score(vcf: Path, genome: Path, model: object, out: str, **settings: object
           ) -> dict[str, bytes]:
    tbvar.score_vcf(vcf, genome, model, output=out,
                    skipped=f"{out.rstrip('/')}.skipped.tsv", device="cpu", **settings)
    return _outputs(out)


ALL_FORMATS = (*FORMATS, "/")  # and a Parquet dataset


@pytest.mark.parametrize("suffix", ALL_FORMATS)
def test_example_with_background_same_bytes(cluster: str, tmp_path: Path, suffix: str) -> None:
    """q-values over the run from the workers' p-value parts, as in a local run."""
    settings = {"background": EXAMPLES / "background.safetensors", "scores": ["lod", "p"],
                "chunk_size": 7, "batch_size": 4}
    model = EXAMPLES / "model.safetensors"
    local = _score(EXAMPLE_VCF, EXAMPLE_GENOME, model, f"{tmp_path}/local{suffix}",
                   **settings)
    on_ray = _score(EXAMPLE_VCF, EXAMPLE_GENOME, model, f"{tmp_path}/ray{suffix}",
                    engine="ray", **settings)
    assert on_ray == local
    if suffix == ".vcf":
        assert b";TBVAR_Q=" in local[""]
    if suffix == "/":
        assert len(local) == 2 + 5  # summary, skipped and a file per chunk


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """10,000 records on three contigs (file order s2, s1, s3; SNVs, indels, multi-ALT,
    REF mismatches, records past the contig ends), bgzipped and tabix-indexed."""
    root = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(11)
    genome = root / "genome.fa"
    sequences = {name: BASES[rng.integers(0, 4, n)] for name, n in CONTIGS.items()}
    with open(genome, "wb") as out:
        for name, seq in sequences.items():
            out.write(f">{name}\n".encode())
            out.writelines(seq[i:i + 60].tobytes() + b"\n" for i in range(0, len(seq), 60))
    lines = ["##fileformat=VCFv4.2", *[f"##contig=<ID={n},length={k}>" for n, k in
                                      CONTIGS.items()],
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for name, n in [("s2", 3000), ("s1", 4500), ("s3", 2500)]:
        seq = sequences[name].tobytes().decode()
        for i, pos in enumerate(np.sort(rng.integers(1, len(seq) + 40, n))):
            ref = seq[pos - 1] if pos <= len(seq) else "A"
            others = "ACGT".replace(ref, "")
            alt = others[i % 3]
            if i % 10 == 1:
                alt = f"{others[0]},{others[2]}"  # two ALTs
            elif i % 10 == 2:
                alt = ref + "GT"  # an insertion
            elif i % 10 == 3 and pos + 2 <= len(seq):
                ref, alt = seq[pos - 1:pos + 2], ref  # a deletion
            elif i % 10 == 4:
                ref, alt = others[0], others[1]  # REF differs from the genome
            lines.append(f"{name}\t{pos}\tv{i}\t{ref}\t{alt}\t.\t.\tDP={i}")
    plain = root / "synthetic.vcf"
    plain.write_text("\n".join(lines) + "\n")
    vcf = root / "synthetic.vcf.gz"
    pysam.tabix_compress(str(plain), str(vcf))
    pysam.tabix_index(str(vcf), preset="vcf")
    return {"vcf": vcf, "plain": plain, "genome": genome, "records": len(lines) - 5}


SYNTHETIC = {"chunk_size": 500, "batch_size": 64}


@pytest.fixture(scope="module")
def synthetic_local(synthetic: dict, tmp_path_factory: pytest.TempPathFactory
                    ) -> dict[str, dict[str, bytes]]:
    """Outputs of single-process runs on the synthetic VCF, per format."""
    root = tmp_path_factory.mktemp("synthetic-local")
    return {suffix: _score(synthetic["vcf"], synthetic["genome"], CORPUS_MODEL,
                           f"{root}/local{suffix}", **SYNTHETIC) for suffix in ALL_FORMATS}


@pytest.mark.parametrize("suffix", ALL_FORMATS)
def test_synthetic_same_bytes(cluster: str, synthetic: dict, synthetic_local: dict,
                              tmp_path: Path, suffix: str) -> None:
    notes: list[str] = []
    on_ray = _score(synthetic["vcf"], synthetic["genome"], CORPUS_MODEL,
                    f"{tmp_path}/ray{suffix}", engine="ray", notify=notes.append, **SYNTHETIC)
    assert on_ray == synthetic_local[suffix]
    assert len(notes) == 1 and re.fullmatch(
        r"ray: \d+ pieces of \S+ counted by its index; 20 chunks in 7 ranges for 2 cpu "
        r"worker\(s\)", notes[0])
    assert json.loads(on_ray[".summary.json"])["records"] == synthetic["records"]


def test_unindexed_input_read_by_the_driver(cluster: str, synthetic: dict,
                                            synthetic_local: dict, tmp_path: Path) -> None:
    notes: list[str] = []
    on_ray = _score(synthetic["plain"], synthetic["genome"], CORPUS_MODEL,
                    f"{tmp_path}/ray.parquet", engine="ray", notify=notes.append, **SYNTHETIC)
    assert on_ray == synthetic_local[".parquet"]  # the same records as the indexed file
    assert notes == ["ray: the driver reads the input (it has no tabix/CSI index); 2 cpu "
                     "worker(s) score it"]


def test_ray_run_resumes_a_local_run(cluster: str, synthetic: dict, synthetic_local: dict,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local run and a Ray run of the same settings have the same resume key."""
    encode = writers.TableWriter.encode

    def interrupt_at_chunk_5(self, chunk):
        if chunk.index == 5:
            raise KeyboardInterrupt
        return encode(self, chunk)

    monkeypatch.setattr(writers.TableWriter, "encode", interrupt_at_chunk_5)
    with pytest.raises(KeyboardInterrupt):
        _score(synthetic["vcf"], synthetic["genome"], CORPUS_MODEL, f"{tmp_path}/out.tsv",
               **SYNTHETIC)
    monkeypatch.setattr(writers.TableWriter, "encode", encode)
    notes: list[str] = []
    resumed = _score(synthetic["vcf"], synthetic["genome"], CORPUS_MODEL, f"{tmp_path}/out.tsv",
                     engine="ray", resume=True, notify=notes.append, **SYNTHETIC)
    assert any(note.startswith("resuming: 5 finished chunk(s)") for note in notes)
    assert resumed == synthetic_local[".tsv"]


class ExitOnce(TBiNet):
    """A TBiNet whose process exits at its third forward pass if ``trigger`` exists (removing
    it, so that only one worker, once, dies)."""

    def __init__(self, source: TBiNet, trigger: Path) -> None:
        super().__init__(source.config)
        self.load_state_dict(source.state_dict())
        self.trigger = str(trigger)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        self.calls += 1
        if self.calls == 3 and os.path.exists(self.trigger):
            try:
                os.unlink(self.trigger)
            except FileNotFoundError:  # another worker won
                return super().forward(x)
            os._exit(1)
        return super().forward(x)


def test_killed_worker_is_retried(cluster: str, synthetic: dict, tmp_path: Path) -> None:
    trigger = tmp_path / "exit-once"
    model = ExitOnce(load_model(CORPUS_MODEL).eval(), trigger)
    local = _score(synthetic["vcf"], synthetic["genome"], model, f"{tmp_path}/local.vcf.gz",
                   **SYNTHETIC)
    trigger.touch()
    model.calls = 0
    on_ray = _score(synthetic["vcf"], synthetic["genome"], model, f"{tmp_path}/ray.vcf.gz",
                    engine="ray", **SYNTHETIC)
    assert not trigger.exists()  # a worker exited mid-run
    assert on_ray == local


def test_bad_record_of_an_indexed_input(cluster: str, synthetic: dict, tmp_path: Path) -> None:
    plain = tmp_path / "bad.vcf"
    lines = synthetic["plain"].read_text().splitlines()
    lines[600] += "\textra"
    plain.write_text("\n".join(lines) + "\n")
    vcf = tmp_path / "bad.vcf.gz"
    pysam.tabix_compress(str(plain), str(vcf))
    pysam.tabix_index(str(vcf), preset="vcf")
    out = tmp_path / "out.tsv"
    with pytest.raises(VariantInputError, match=r"s2:\d+-\d* record \d+: 9 columns"):
        tbvar.score_vcf(vcf, synthetic["genome"], CORPUS_MODEL, output=out, device="cpu",
                        engine="ray")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.vcf", "bad.vcf.gz",
                                                          "bad.vcf.gz.tbi"]


def test_killed_driver_then_resume(cluster: str, synthetic: dict, tmp_path: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "scores.tsv.gz"
    args = ["score", str(synthetic["vcf"]), "--genome", str(synthetic["genome"]), "--model",
            str(CORPUS_MODEL), "-o", str(out), "--device", "cpu", "--chunk-size", "100",
            "--batch-size", "64", "--skipped", f"{out}.skipped.tsv"]
    assert main([*args, "-q"]) == 0
    expected = _outputs(out)
    for suffix in expected:
        Path(f"{out}{suffix}").unlink()
    ray_engine.close_workers()  # the cluster's two CPUs go to the next driver's workers
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    log = tmp_path / "driver.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "tbvar.cli", *args, *RAY_ARGS,
                                 "--ray-address", cluster], env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)
    partial = Path(f"{out}.partial")
    deadline = time.monotonic() + 120
    while len(list(partial.glob("chunk-*.json"))) < 10:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    done = len(list(partial.glob("chunk-*.json")))
    assert 10 <= done < 100
    capsys.readouterr()
    assert main([*args, *RAY_ARGS, "--resume"]) == 0
    assert "resuming: " in capsys.readouterr().err
    assert _outputs(out) == expected
    assert not partial.exists() and not Path(f"{out}.lock").exists()


def test_cluster_options() -> None:
    assert recorded_command(["score", "in.vcf", "--engine", "ray", "--workers=3",
                             "--ray-address", "auto", "--gpus-per-worker", "0.5", "-o",
                             "x.tsv"]) == "tbvar score in.vcf -o x.tsv"
    with pytest.raises(ValueError, match="need"):
        RunOptions(workers=2)
    cpu_cluster = {"CPU": 16.0}
    gpu_cluster = {"CPU": 64.0, "GPU": 8.0}
    assert resolve_workers(RunOptions(engine="ray"), cpu_cluster) == ("cpu", 0.0, 16)
    assert resolve_workers(RunOptions(engine="ray"), gpu_cluster) == ("cuda", 1.0, 8)
    assert resolve_workers(RunOptions(engine="ray", gpus_per_worker=0.5),
                           gpu_cluster) == ("cuda", 0.5, 16)
    assert resolve_workers(RunOptions(engine="ray", device="cpu", workers=4),
                           gpu_cluster) == ("cpu", 0.0, 4)
    for bad in ({"device": "cuda:1"}, {"device": "cpu", "gpus_per_worker": 1.0},
                {"device": "cuda", "gpus_per_worker": 0.0}):
        with pytest.raises(ValueError, match="device"):
            resolve_workers(RunOptions(engine="ray", **bad), gpu_cluster)


def test_tbvar_does_not_import_ray() -> None:
    code = ("import sys, tbvar, tbvar.cli, tbvar.api; "
            "sys.exit('ray' in sys.modules or 'tbvar.ray_engine' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
