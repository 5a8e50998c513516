"""tbvar calibrate and tbvar score --background: files, resume, refusals, every output format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cyvcf2 import VCF
from scipy.stats import false_discovery_control

import tbvar
from tbvar import calibration as calibrate_module
from tbvar.background import Background
from tbvar.cli import main

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF, REPO

MODEL = REPO / "examples" / "model.safetensors"


def _calibrate_args(out: Path, *extra: str) -> list[str]:
    return ["calibrate", "--random", "1500", "--seed", "3", "--genome", str(EXAMPLE_GENOME),
            "--model", str(MODEL), "-o", str(out), "--device", "cpu", "--chunk-size", "100",
            *extra]


@pytest.fixture(scope="module")
def background(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bg") / "bg.safetensors"
    assert main(_calibrate_args(out, "-q")) == 0
    return out


def test_background_file_describes_its_making(background: Path) -> None:
    bg = Background.load(background)
    assert bg.n == 1500 and bg.sample_size == 1500
    assert set(bg.sorted_abs) == {"lod", "diff", "max_abslod", "attn_shift"}
    assert bg.sorted_abs["lod"].shape == (1500, 4)
    assert np.all(np.diff(bg.sorted_abs["lod"], axis=0) >= 0)
    meta = bg.meta
    assert meta["source"] == {"kind": "random", "n": 1500, "seed": 3, "regions": None}
    assert meta["options"] == {"reverse_complement": True, "precision": "fp32",
                               "ref_mismatch": "skip", "max_allele_length": 100,
                               "anchor": "center"}
    assert meta["counts"]["status_counts"] == {"ok": 1500}
    assert meta["model_sha256"] == tbvar.load_model(MODEL).info.sha256
    frame = tbvar.score_variants(_background_snvs(), EXAMPLE_GENOME, MODEL, device="cpu")
    assert len(frame) == 1500  # the same SNVs, scored by score_variants
    lod = np.sort(np.abs(frame.filter(like="lod.").to_numpy()), axis=0)
    np.testing.assert_array_equal(bg.sorted_abs["lod"], lod)
    np.testing.assert_allclose(bg.rms["lod"], np.sqrt(np.mean(
        np.square(frame.filter(like="lod.").to_numpy(), dtype=np.float64), axis=0)))


def _background_snvs() -> pd.DataFrame:
    from tbvar.genome import Genome
    from tbvar.random_snvs import sample_snvs

    genome = Genome(EXAMPLE_GENOME)
    rows = pd.concat([c.alleles for c in sample_snvs(genome, 1500, seed=3, margin=110)])
    return rows[["chrom", "pos", "ref", "alt"]]


def test_interrupted_calibration_resumes_to_the_same_file(background: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys) -> None:
    out = tmp_path / "bg.safetensors"
    monkeypatch.setattr(calibrate_module, "CHECKPOINT_EVERY", 4)
    add = calibrate_module.NullSample.add
    calls = []

    def interrupt_at_chunk_10(self, priority, values):
        calls.append(1)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return add(self, priority, values)

    monkeypatch.setattr(calibrate_module.NullSample, "add", interrupt_at_chunk_10)
    assert main(_calibrate_args(out)) == 130
    assert "--resume" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bg.safetensors.partial"]
    monkeypatch.setattr(calibrate_module.NullSample, "add", add)
    seen = []
    monkeypatch.setattr(calibrate_module.NullSample, "add",
                        lambda self, p, v: (seen.append(1), add(self, p, v)))
    assert main(_calibrate_args(out, "--resume")) == 0
    assert "resuming: the first 8 chunk(s)" in capsys.readouterr().err
    assert len(seen) == 15 - 8  # the state after chunk 8 was saved; chunks 9..15 rescored
    assert out.read_bytes() == background.read_bytes()


def test_scores_with_background_agree_across_formats(background: Path, tmp_path: Path) -> None:
    for name in ("out.tsv", "out.parquet", "out.vcf.gz"):
        assert main(["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model",
                     str(MODEL), "--background", str(background), "--scores", "lod,p,z",
                     "-o", str(tmp_path / name), "--device", "cpu", "--chunk-size", "7",
                     "-q"]) == 0
    table = pd.read_csv(tmp_path / "out.tsv", sep="\t")
    parquet = pd.read_parquet(tmp_path / "out.parquet")
    ok = table["status"] == "ok"
    bg = Background.load(background)
    lod = table.filter(like="lod.").to_numpy(np.float32)[ok]
    np.testing.assert_allclose(table.filter(like="p.").to_numpy()[ok],
                               bg.p_values("lod", lod), rtol=1e-6)
    np.testing.assert_allclose(table.filter(like="z.").to_numpy()[ok], lod / bg.rms["lod"],
                               rtol=1e-5)
    # q over the whole run (chunks of 7), as scipy computes Benjamini-Hochberg
    np.testing.assert_allclose(table.loc[ok, "q"], false_discovery_control(
        table.loc[ok, "combined_p"]), rtol=1e-6)
    assert table.loc[~ok, ["min_p", "combined_p", "q"]].isna().all().all()
    np.testing.assert_allclose(parquet["q"].to_numpy(float), table["q"].to_numpy(float),
                               rtol=1e-6, equal_nan=True)
    vcf = {"TBVAR_Q": [], "TBVAR_MINP": []}
    for record in VCF(str(tmp_path / "out.vcf.gz")):
        if record.INFO.get("TBVAR_STATUS") is None:  # no ALT
            continue
        statuses = record.INFO["TBVAR_STATUS"].split(",")
        for key, values in vcf.items():
            value = record.INFO.get(key)
            per_alt = value if isinstance(value, tuple) else (value,) * len(statuses)
            values += [v for v, status in zip(per_alt, statuses, strict=True) if status == "ok"]
    np.testing.assert_allclose(vcf["TBVAR_Q"], table.loc[ok, "q"], rtol=1e-6)
    np.testing.assert_allclose(vcf["TBVAR_MINP"], table.loc[ok, "min_p"], rtol=1e-6)


def test_vcf_header_names_the_background(background: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.vcf"
    assert main(["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model",
                 str(MODEL), "--background", str(background), "-o", str(out), "--device",
                 "cpu", "-q"]) == 0
    lines = out.read_text().splitlines()
    bg = Background.load(background)
    assert f"##tbvar_background={background} sha256={bg.sha256} n=1500 sample=1500" in lines
    assert any(line.startswith("##INFO=<ID=TBVAR_Q,Number=A,Type=Float") for line in lines)
    source = next(line for line in lines if line.startswith("##tbvar_background_source="))
    assert json.loads(source.split("=", 1)[1])["kind"] == "random"


def test_background_of_another_setting_is_refused_unless_forced(background: Path,
                                                                tmp_path: Path,
                                                                capsys) -> None:
    args = ["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model", str(MODEL),
            "--background", str(background), "-o", str(tmp_path / "out.vcf"), "--device",
            "cpu", "--no-rc"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "reverse_complement (background: True, this run: False)" in err
    assert "--force-background" in err and not (tmp_path / "out.vcf").exists()
    assert main([*args, "--force-background", "-q"]) == 0
    forced = [line for line in (tmp_path / "out.vcf").read_text().splitlines()
              if line.startswith("##tbvar_background_forced=")]
    assert forced == ["##tbvar_background_forced=reverse_complement (background: True, this "
                      "run: False)"]


def test_p_without_background_and_small_backgrounds(tmp_path: Path, capsys) -> None:
    base = ["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model", str(MODEL),
            "--device", "cpu"]
    assert main([*base, "--scores", "lod,p", "-o", str(tmp_path / "a.tsv")]) == 1
    assert "score(s) p need a background" in capsys.readouterr().err
    small = tmp_path / "small.safetensors"
    assert main(["calibrate", "--random", "50", "--genome", str(EXAMPLE_GENOME), "--model",
                 str(MODEL), "-o", str(small), "--device", "cpu"]) == 0
    assert "only 50 background variants" in capsys.readouterr().err
    assert main([*base, "--background", str(small), "-o", str(tmp_path / "b.tsv")]) == 0
    assert "has only 50 variants" in capsys.readouterr().err
    (tmp_path / "junk.safetensors").write_bytes(b"x")
    assert main([*base, "--background", str(tmp_path / "junk.safetensors"),
                 "-o", str(tmp_path / "c.tsv")]) == 1
    assert "not a tbvar background file" in capsys.readouterr().err


def test_shipped_example_background_is_the_documented_one(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    shipped = Background.load(REPO / "examples" / "background.safetensors")
    monkeypatch.chdir(REPO / "examples")  # the command of examples/README.md, run there
    assert main(["calibrate", "--random", "10000", "--seed", "0", "--genome",
                 "hg19_chr17_region_padded.fa.gz", "--model", "model.safetensors", "-o",
                 str(tmp_path / "bg.safetensors"), "--device", "cpu", "-q"]) == 0
    rebuilt = Background.load(tmp_path / "bg.safetensors")
    assert rebuilt.meta == shipped.meta and rebuilt.n == shipped.n == 10_000
    for name in shipped.sorted_abs:  # thread count may change the last float32 bits
        np.testing.assert_allclose(rebuilt.sorted_abs[name], shipped.sorted_abs[name],
                                   rtol=1e-5, atol=1e-7)


def test_selected_tasks_get_the_p_values_of_the_whole_run(background: Path,
                                                          tmp_path: Path) -> None:
    """With --tasks only the selected tasks are looked up; the values are those of a run over
    every task, and min_p / combined_p combine the selected tasks only."""
    common = [str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model", str(MODEL),
              "--background", str(background), "--scores", "lod,p", "--device", "cpu", "-q"]
    assert main(["score", *common, "-o", str(tmp_path / "all.tsv")]) == 0
    assert main(["score", *common, "--tasks", "3,1", "-o", str(tmp_path / "some.tsv")]) == 0
    every, some = (pd.read_csv(tmp_path / name, sep="\t") for name in ("all.tsv", "some.tsv"))
    p_columns = list(some.filter(like="p.").columns)
    assert len(p_columns) == 2
    np.testing.assert_array_equal(some[p_columns].to_numpy(), every[p_columns].to_numpy())
    ok = some["status"] == "ok"
    chosen = some.loc[ok, p_columns].to_numpy()
    np.testing.assert_allclose(some.loc[ok, "min_p"], chosen.min(axis=1), rtol=1e-7)
    ordered = np.sort(chosen, axis=1)
    np.testing.assert_allclose(some.loc[ok, "combined_p"],
                               np.minimum((2 * ordered / [1, 2]).min(axis=1), 1), rtol=1e-6)


def test_vcf_q_of_multi_allelic_and_alt_less_records(tmp_path: Path) -> None:
    """TBVAR_Q goes into the slot of each record with ALTs (one value per ALT, in order);
    records without ALT get none."""
    lines = EXAMPLE_VCF.read_text().splitlines()
    body = [line.split("\t") for line in lines if not line.startswith("#")][:30]
    for i, fields in enumerate(body):
        fields[4] = {0: ".", 1: "T,G" if fields[4] != "G" else "G,C",
                     2: f"{fields[4]},<DEL>"}.get(i % 5, fields[4])
    vcf = tmp_path / "multi.vcf"
    vcf.write_text("\n".join([line for line in lines if line.startswith("#")]
                             + ["\t".join(fields) for fields in body]) + "\n")
    for name in ("out.tsv", "out.vcf"):
        tbvar.score_vcf(vcf, EXAMPLE_GENOME, MODEL, output=tmp_path / name, device="cpu",
                        background=REPO / "examples" / "background.safetensors", chunk_size=4)
    table = pd.read_csv(tmp_path / "out.tsv", sep="\t")
    expected = table.groupby("record_index", sort=True)["q"].apply(list)
    got = {}
    for i, record in enumerate(VCF(str(tmp_path / "out.vcf"))):
        value = record.INFO.get("TBVAR_Q")
        if record.ALT:
            got[i] = list(value) if isinstance(value, tuple) else [value]
        else:
            assert value is None and record.INFO.get("TBVAR_STATUS") == "no_alt"
    assert len(got) == 24 and sum(len(v) for v in got.values()) == 36
    for i, values in got.items():
        np.testing.assert_allclose(np.array(values, float),
                                   np.array(expected[i], float), rtol=1e-6, equal_nan=True)
