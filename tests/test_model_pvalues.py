"""p-values computed on the model's device (``--p-values-on model``) are the host's, bit for bit:
the device's values where its lod equals the host's, the host's recomputation elsewhere."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import tbvar
from tbvar.background import Background
from tbvar.cli import main
from tbvar.genome import Genome
from tbvar.log_odds import log_odds_difference
from tbvar.options import RunOptions, ScoreOptions, p_values_on_model
from tbvar.score_cli import recorded_command
from tbvar.scores import VariantScores
from tbvar.scoring import Scorer
from tbvar.stage import ScoringStage
from tbvar.task_pvalues import ModelNull, ModelPValues, TaskPValues
from tbvar.variants import iter_vcf_chunks

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF, REPO

MODEL = REPO / "examples" / "model.safetensors"
BACKGROUND = REPO / "examples" / "background.safetensors"


def _background(rng: np.random.Generator, tasks: int, k: int) -> Background:
    """A background whose null holds exact zeros, repeated values and the saturated lod."""
    ref, alt = (rng.uniform(0, 1, (k, tasks)).astype(np.float32) for _ in range(2))
    ref[:20] = alt[:20]  # lod exactly 0
    ref[20:30], alt[20:30] = 0.0, 1.0  # saturated: the largest |lod|
    lod = log_odds_difference(ref, alt)
    lod[30:60] = lod[60:90]  # repeated values
    lod[:, 3] = lod[:, 1]  # the same null: ties of p and |z| between tasks 1 and 3
    rms = np.sqrt(np.mean(np.square(lod, dtype=np.float64), axis=0))
    return Background({"lod": np.sort(np.abs(lod), axis=0)}, {"lod": rms}, k)


def _probabilities(rng: np.random.Generator, n: int, tasks: int) -> tuple[np.ndarray, ...]:
    """REF/ALT probabilities with the cases that need care: no effect, saturation, ties."""
    ref, alt = (rng.uniform(0, 1, (n, tasks)).astype(np.float32) for _ in range(2))
    alt[:10] = ref[:10]  # lod 0: p = 1 in every task, all tied
    ref[10:20], alt[10:20] = 1.0, 0.0  # saturated: equal to null values
    ref[20:30, 3], alt[20:30, 3] = ref[20:30, 1], alt[20:30, 1]  # tied p and |z| (1 and 3)
    ref[30:40] = np.float32(0.5)
    alt[30:40] = np.float32(0.5) + np.float32(2**-24) * np.arange(1, tasks + 1)  # tiny
    return ref, alt


def _host(background: Background, ref: np.ndarray, alt: np.ndarray,
          columns: np.ndarray) -> TaskPValues:
    lod = log_odds_difference(ref, alt)[:, columns]
    return TaskPValues.on_host(background, lod, columns,
                               background.z_scores("lod", lod, columns))


def _assert_equal(got: TaskPValues, expected: TaskPValues) -> None:
    for name in ("p", "min_p", "best", "combined_p"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), name)


@pytest.mark.parametrize("columns", [[0, 1, 2, 3, 4, 5], [4, 3, 0, 1]])
def test_device_values_checked_on_the_host_are_the_host_values(columns: list[int]) -> None:
    rng = np.random.default_rng(7)
    background = _background(rng, tasks=6, k=500)
    ref, alt = _probabilities(rng, 400, 6)
    columns = np.array(columns)
    expected = _host(background, ref, alt, columns)
    device = ModelNull(background, columns, torch.device("cpu"))(torch.from_numpy(ref),
                                                                 torch.from_numpy(alt))
    lod = log_odds_difference(ref, alt)[:, columns]
    same = (device.lod[0] == lod).all(axis=1)
    assert same.mean() > 0.5  # most rows are the device's own values ...
    np.testing.assert_array_equal(device.p[0][same], expected.p[same])
    for name in ("min_p", "best", "combined_p"):  # ... and those equal the host's
        np.testing.assert_array_equal(getattr(device, name)[same],
                                      getattr(expected, name)[same], name)
    _assert_equal(device.checked(lod, lambda rows: TaskPValues.on_host(
        background, lod[rows], columns, background.z_scores("lod", lod[rows], columns))),
        expected)
    if 3 in columns:  # tasks 1 and 3 tie in p and |z|: the first of them in column order
        pair = [list(columns).index(1), list(columns).index(3)]
        best = expected.best[20:30]
        assert np.isin(best, pair).sum() >= 3 and not (best == max(pair)).any()


def test_rows_whose_lod_differs_are_recomputed_and_others_kept() -> None:
    """The check trusts the device's values exactly where its lod equals the host's; rows are
    found across passes (here two: rows 0-29 and 30-59)."""
    rng = np.random.default_rng(3)
    background = _background(rng, tasks=4, k=300)
    ref, alt = _probabilities(rng, 60, 4)
    null = ModelNull(background, np.arange(4), torch.device("cpu"))
    passes = [null(torch.from_numpy(ref[rows]), torch.from_numpy(alt[rows]))
              for rows in (slice(0, 30), slice(30, 60))]
    device = ModelPValues.joined(passes)
    assert len(device.lod) == 2 and len(device.min_p) == 60
    lod = log_odds_difference(ref, alt)
    second = device.lod[1]  # rows 41 and 50 are rows 11 and 20 of the second pass
    second[[11, 20], 2] = np.nextafter(second[[11, 20], 2], np.float32(np.inf))
    device.p[1][[11, 20]] = device.min_p[[41, 50]] = device.combined_p[[41, 50]] = 0.5
    device.p[1][15] = 0.25  # lod unchanged: kept (the check is of the lod, not the results)
    recomputed: list[np.ndarray] = []

    def recompute(rows: np.ndarray) -> TaskPValues:
        recomputed.append(rows)
        return TaskPValues.on_host(background, lod[rows], None,
                                   background.z_scores("lod", lod[rows]))

    got = device.checked(lod, recompute)
    assert [r.tolist() for r in recomputed] == [[41, 50]]
    expected = _host(background, ref, alt, np.arange(4))
    for row in (41, 50):
        assert got.p[row].tolist() == expected.p[row].tolist()
        assert got.combined_p[row] == expected.combined_p[row]
    assert (got.p[45] == 0.25).all()
    mask = np.zeros(60, bool)
    mask[[1, 44]] = True  # REF and ALT exchanged: the lod changes sign in both passes
    swapped = device.exchanged(mask)
    assert swapped.lod[0][1].tolist() == (-device.lod[0][1]).tolist()
    assert swapped.lod[1][14].tolist() == (-device.lod[1][14]).tolist()
    assert swapped.lod[1][13].tolist() == device.lod[1][13].tolist()


def test_statistics_without_per_task_p_values() -> None:
    """Without ``with_p`` only the statistics travel; p, when asked for, comes from the host."""
    rng = np.random.default_rng(4)
    background = _background(rng, tasks=4, k=200)
    ref, alt = _probabilities(rng, 40, 4)
    columns = np.array([2, 0])
    null = ModelNull(background, columns, torch.device("cpu"), with_p=False)
    device = null(torch.from_numpy(ref), torch.from_numpy(alt))
    assert device.p is None
    scores = VariantScores(ref, alt, background=background, tasks=columns, model_p=device)
    expected = _host(background, ref, alt, columns)
    assert scores.calibrated.p is None
    np.testing.assert_array_equal(scores.calibrated.combined_p, expected.combined_p)
    np.testing.assert_array_equal(scores.p[:, columns], expected.p)
    assert np.isnan(scores.p[:, [1, 3]]).all()


def test_nan_probabilities_give_nan_p_values() -> None:
    rng = np.random.default_rng(5)
    background = _background(rng, tasks=4, k=200)
    ref, alt = _probabilities(rng, 50, 4)
    ref[7, 2] = np.nan
    columns = np.arange(4)
    device = ModelNull(background, columns, torch.device("cpu"))(torch.from_numpy(ref),
                                                                 torch.from_numpy(alt))
    lod = log_odds_difference(ref, alt)
    got = device.checked(lod, lambda rows: TaskPValues.on_host(
        background, lod[rows], None, background.z_scores("lod", lod[rows])))
    _assert_equal(got, _host(background, ref, alt, columns))
    assert np.isnan(got.p[7, 2]) and not np.isnan(got.p[7, [0, 1, 3]]).any()
    assert not np.isnan(got.combined_p[7])  # Simes of the tasks with a p-value


def test_backgrounds_the_device_cannot_use() -> None:
    rng = np.random.default_rng(1)
    background = _background(rng, tasks=4, k=100)
    assert ModelNull.usable(background, np.array([0, 2]))
    assert not ModelNull.usable(background, np.array([], dtype=np.int64))
    background.rms["lod"][2] = 0.0  # every background lod of task 2 is 0: z is not finite
    assert not ModelNull.usable(background, np.array([0, 2]))


@pytest.mark.parametrize("settings", [
    {"scores": ["lod", "p", "z"]},
    {"scores": ["p"], "tasks": ["3", "0"], "chunk_size": 5, "host_workers": 2},
    {"scores": ["lod", "z"], "ref_mismatch": "flip", "orientation": "input",
     "force_background": True},
], ids=["all-tasks", "selected-workers", "input-orientation"])
def test_outputs_are_byte_identical_to_host_p_values(settings: dict, tmp_path: Path) -> None:
    for suffix in ("tsv", "vcf"):
        paths = {}
        for where in ("model", "host"):
            paths[where] = tmp_path / f"{where}.{suffix}"
            tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, MODEL, output=paths[where],
                            device="cpu", background=BACKGROUND, p_values_on=where, **settings)
        assert paths["model"].read_bytes() == paths["host"].read_bytes()
        assert b"min_p" in paths["model"].read_bytes() or b"TBVAR_MINP" in \
            paths["model"].read_bytes()


def test_the_device_does_the_lookups_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``model`` the host looks up nothing unless a row's lod differs."""
    calls = {"device": 0, "host": 0}
    device_call, host_lookup = ModelNull.__call__, Background.p_values

    def counted_device(self, ref, alt):
        calls["device"] += 1
        return device_call(self, ref, alt)

    def counted_host(self, name, values, columns=None):
        calls["host"] += len(values)
        return host_lookup(self, name, values, columns)

    monkeypatch.setattr(ModelNull, "__call__", counted_device)
    monkeypatch.setattr(Background, "p_values", counted_host)
    frame = tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, MODEL, device="cpu",
                            background=BACKGROUND, p_values_on="model", batch_size=16)
    scored = int((frame["status"] == "ok").sum())
    assert calls["device"] == -(-scored // 16)  # one call per forward pass
    assert calls["host"] <= scored // 10  # recomputed rows: lods the logs round apart


def test_option_is_validated_resolved_and_not_recorded() -> None:
    with pytest.raises(ValueError, match="p_values_on must be one of"):
        RunOptions(p_values_on="gpu")
    assert not p_values_on_model(RunOptions(), torch.device("cpu"))
    assert p_values_on_model(RunOptions(), torch.device("cuda"))
    assert p_values_on_model(RunOptions(p_values_on="model"), torch.device("cpu"))
    assert not p_values_on_model(RunOptions(p_values_on="host"), torch.device("cuda"))
    assert recorded_command(["score", "in.vcf", "--p-values-on", "model", "-o", "x.tsv"]) == \
        "tbvar score in.vcf -o x.tsv"
    assert recorded_command(["score", "in.vcf", "--p-values-on=host"]) == "tbvar score in.vcf"


def test_cli_p_values_on_model_and_host_write_the_same_file(tmp_path: Path) -> None:
    for where in ("model", "host"):
        assert main(["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model",
                     str(MODEL), "--background", str(BACKGROUND), "--p-values-on", where,
                     "--device", "cpu", "-o", str(tmp_path / f"{where}.vcf.gz"), "-q"]) == 0
    model, host = (gzip.decompress((tmp_path / f"{w}.vcf.gz").read_bytes()).decode()
                   for w in ("model", "host"))
    assert model.replace("model.vcf.gz", "host.vcf.gz") == host  # the command names -o
    assert "--p-values-on" not in host and ";TBVAR_MINP=" in host


@pytest.mark.parametrize("on_model", [True, False])
def test_every_task_in_another_order_names_the_right_min_p_task(on_model: bool) -> None:
    """A stage given all four tasks in reverse order (the API sorts selections; a stage takes
    any order): p columns, min_p and min_p_task follow that order."""
    net = tbvar.load_model(MODEL)
    background = Background.load(BACKGROUND)
    labels = [f"t{j}" for j in range(4)]
    options = ScoreOptions(scores=("p", "lod"), background=str(BACKGROUND))
    stage = ScoringStage(Genome(EXAMPLE_GENOME), Scorer(net, device="cpu"), labels,
                         [3, 2, 1, 0], options, background, p_values_on_model=on_model)
    assert (stage.model_null is not None) == on_model
    rows = pd.concat([stage(chunk).rows for chunk in iter_vcf_chunks(EXAMPLE_VCF, 16)])
    ok = rows[rows["status"] == "ok"]
    p_columns = ["p.t3", "p.t2", "p.t1", "p.t0"]
    assert [c for c in ok.columns if c.startswith("p.")] == p_columns
    p = ok[p_columns].to_numpy()
    z = np.abs(ok[[f"lod.{c[2:]}" for c in p_columns]].to_numpy()) / \
        background.rms["lod"][[3, 2, 1, 0]]
    best = np.where(p == p.min(axis=1, keepdims=True), z, -np.inf).argmax(axis=1)
    assert ok["min_p_task"].tolist() == [p_columns[i][2:] for i in best]
    np.testing.assert_array_equal(ok["min_p"].to_numpy(np.float32), p.min(axis=1))
