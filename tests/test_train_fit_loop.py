"""tbvar-train fit: learning, outputs, exact resume, data-parallel ranks, CLI errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import tbvar_train.fit as fit_module
from tbvar.baselines import DanQ
from tbvar.checkpoint import load_model
from tbvar_train.checkpointing import load_checkpoint
from tbvar_train.cli import main
from tbvar_train.evaluate import evaluate
from tbvar_train.fit import FitOptions, fit
from tests.train_fit_data import SMALL_TBINET, write_shards

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("tiny"), n_train=120, n_valid=40, n_test=40)


def _options(data: Path, out: Path, **kwargs) -> FitOptions:
    defaults = dict(batch_size=20, model_config=SMALL_TBINET, progress=False, seed=7)
    return FitOptions(data=str(data), out=str(out), **{**defaults, **kwargs})


def _weights(run: Path) -> dict[str, torch.Tensor]:
    groups, _ = load_checkpoint(run / "checkpoint.safetensors")
    return groups["model"]


def _assert_same_run(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # bit-identical
    ma, mb = (pd.read_csv(run / "metrics.csv") for run in (a, b))
    columns = ["epoch", "train_loss", "valid_loss", "best_valid_loss", "train_samples"]
    pd.testing.assert_frame_equal(ma[columns], mb[columns])


def test_small_tbinet_learns_planted_motifs(tmp_path):
    data = write_shards(tmp_path / "data", n_train=1500, n_valid=200, n_test=300, seed=1)
    summary = fit(_options(data, tmp_path / "run", epochs=6, batch_size=50, lr=3e-3))
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert len(history) == 6 and summary["best_epoch"] == history["valid_loss"].idxmin() + 1
    assert history["train_samples"].tolist() == [3000] * 6  # RC copies double the epoch
    assert summary["best_valid_loss"] < 0.8 * history["valid_loss"].iloc[0]
    table, scores = evaluate(summary["model"], str(data), "test")
    # a 16-kernel model learns the motifs one at a time (after a plateau of varying length);
    # within 6 epochs at least one is found: held-out AUROC near 1
    assert table["auroc"].max() > 0.95 and scores["mean_auroc"] > 0.6


def test_outputs_and_exported_model(tiny, tmp_path):
    run = tmp_path / "run"
    summary = fit(_options(tiny, run, epochs=2, max_steps_per_epoch=3))
    model, info = load_model(run / "model.safetensors")
    assert info.config.n_kernels == 16 and info.tasks["target"].tolist() == [
        "motif0", "motif1", "motif2"]
    prov = info.provenance
    assert prov["seed"] == 7 and prov["epochs_run"] == 2 and prov["arch"] == "tbinet"
    assert prov["best_valid_loss"] == summary["best_valid_loss"]
    assert prov["data_meta"]["provenance"] == {"source": "tests", "seed": 0}
    assert prov["command"].startswith("tbvar-train fit --data")
    best = load_checkpoint(run / "checkpoint.safetensors")[0]["best"]
    assert all(torch.equal(model.state_dict()[k], best[k]) for k in best)
    metrics = json.loads((run / "metrics.json").read_text())
    assert [row["train_samples"] for row in metrics["history"]] == [60, 60]  # 3 steps × 20
    assert metrics["summary"]["ranks_in_sync"] and metrics["summary"]["precision"] == "fp32"


def test_bf16_autocast_runs_on_cpu(tiny, tmp_path):
    summary = fit(_options(tiny, tmp_path / "run", epochs=1, max_steps_per_epoch=2,
                           precision="bf16"))
    assert summary["precision"] == "bf16" and 0 < summary["best_valid_loss"] < 2


def test_resume_after_an_epoch_is_bit_identical(tiny, tmp_path):
    fit(_options(tiny, tmp_path / "straight", epochs=3))
    fit(_options(tiny, tmp_path / "split", epochs=1))
    fit(_options(tiny, tmp_path / "split", epochs=3, resume=True))
    _assert_same_run(tmp_path / "straight", tmp_path / "split")


def test_resume_after_a_mid_epoch_crash_is_bit_identical(tiny, tmp_path, monkeypatch):
    fit(_options(tiny, tmp_path / "straight", epochs=2, checkpoint_every=5))
    original, calls = fit_module._Trainer.save, []

    def crash_after_second_save(self):
        original(self)
        calls.append(self.state["step"])
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(fit_module._Trainer, "save", crash_after_second_save)
    with pytest.raises(KeyboardInterrupt):
        fit(_options(tiny, tmp_path / "crashed", epochs=2, checkpoint_every=5))
    assert calls == [5, 10]  # died in epoch 1 after the checkpoint at step 10 of 12
    monkeypatch.setattr(fit_module._Trainer, "save", original)
    fit(_options(tiny, tmp_path / "crashed", epochs=2, checkpoint_every=5, resume=True))
    _assert_same_run(tmp_path / "straight", tmp_path / "crashed")


def test_resume_refuses_changed_settings(tiny, tmp_path):
    fit(_options(tiny, tmp_path / "run", epochs=1, max_steps_per_epoch=1))
    with pytest.raises(ValueError, match=r"cannot resume, \['lr'\] differ"):
        fit(_options(tiny, tmp_path / "run", epochs=2, max_steps_per_epoch=1, lr=0.1,
                     resume=True))


def test_early_stopping_stops_after_patience(tiny, tmp_path):
    summary = fit(_options(tiny, tmp_path / "run", epochs=20, patience=1, lr=0.0))
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    # lr 0: the weights never change, so epoch 2 cannot improve on epoch 1
    assert summary["early_stopped"] and len(history) == 2 and summary["best_epoch"] == 1


def test_two_process_gloo_run_keeps_ranks_in_sync(tiny, tmp_path):
    run = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "tbvar_train.cli", "fit", "--data", str(tiny),
               "--out", str(run), "--epochs", "2", "--batch-size", "10", "--device", "cpu",
               "--small-model-config", json.dumps(SMALL_TBINET), "--no-progress"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run / "metrics.json").read_text())["summary"]
    assert summary["world_size"] == 2 and len(summary["rank_weight_sha256"]) == 2
    assert summary["ranks_in_sync"]
    history = pd.read_csv(run / "metrics.csv")
    assert history["train_samples"].tolist() == [240, 240]  # both ranks' halves of 2 × 120
    model, info = load_model(run / "model.safetensors")
    assert info.provenance["world_size"] == 2


def test_cli_errors_are_one_line(tiny, tmp_path, capsys):
    assert main(["fit", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "meta.json: missing" in err
    assert main(["fit", "--data", str(tiny), "--out", str(tmp_path / "r"),
                 "--precision", "fp16", "--device", "cpu"]) == 1
    assert "fp16 training needs a CUDA device" in capsys.readouterr().err


def test_cli_trains_a_baseline(tiny, tmp_path, capsys):
    config = {"n_kernels": 8, "kernel_width": 8, "pool_size": 4, "lstm_units": 4,
              "dense_units": 8}
    (tmp_path / "danq.json").write_text(json.dumps(config))
    code = main(["fit", "--data", str(tiny), "--out", str(tmp_path / "danq"), "--arch", "danq",
                 "--epochs", "1", "--small-model-config", str(tmp_path / "danq.json"),
                 "--no-progress"])
    assert code == 0
    exported = tmp_path / "danq" / "model.safetensors"
    model, info = load_model(exported)
    assert isinstance(model, DanQ) and info.arch == "danq" and info.config.lstm_units == 4
    assert info.description.startswith("DanQ trained by tbvar-train")
    assert info.tasks["target"].tolist() == ["motif0", "motif1", "motif2"]
    best = load_checkpoint(tmp_path / "danq" / "checkpoint.safetensors")[0]["best"]
    state = model.state_dict()
    assert state.keys() == best.keys() and all(torch.equal(state[k], best[k]) for k in best)
    assert main(["evaluate", "--model", str(exported), "--data", str(tiny),
                 "-o", str(tmp_path / "t.tsv")]) == 0
    assert "this model (danq)" in capsys.readouterr().out


def test_init_from_starts_from_a_model_of_another_window_length(tiny, tmp_path):
    """``--init-from``: the window-independent tensors of a shorter model, the dense layer
    freshly initialised; lr 0 keeps the start, so the exported model shows it."""
    first = fit(_options(tiny, tmp_path / "first", epochs=1))
    source, _ = load_model(first["model"])
    longer = write_shards(tmp_path / "longer", n_train=40, n_valid=20, n_test=20, length=200)
    summary = fit(_options(longer, tmp_path / "warm", epochs=1, lr=0.0,
                           init_from=first["model"]))
    warm, info = load_model(summary["model"])
    assert warm.config.n_bins != source.config.n_bins
    for name in ("conv.weight", "attention.weight", "lstm.weight_ih_l0", "output.weight"):
        assert torch.equal(warm.state_dict()[name], source.state_dict()[name]), name
    assert warm.dense.weight.shape != source.dense.weight.shape  # freshly initialised
    assert "--init-from model.safetensors" in info.provenance["command"]
    with pytest.raises(ValueError, match=r"cannot resume, \['init_from'\] differ"):
        fit(_options(longer, tmp_path / "warm", epochs=2, lr=0.0, resume=True))
