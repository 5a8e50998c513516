"""tbvar-train evaluate: hand-computed metrics, fwd+RC averaging, NaN tasks, paper Table 4."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from tbvar.checkpoint import ModelInfo, save_model
from tbvar.model import TBiNet
from tbvar.tasks import generic_tasks, tbinet_tasks
from tbvar_train.architectures import make_config
from tbvar_train.cli import main
from tbvar_train.dataset import ShardSplit
from tbvar_train.evaluate import evaluate, format_summary, predict, task_metrics
from tests.train_fit_data import SMALL_TBINET, write_shards


def test_metrics_match_a_hand_computed_example():
    labels = np.array([[0, 1], [0, 1], [1, 1], [1, 1]])
    scores = np.array([[0.1, 0.5], [0.4, 0.5], [0.35, 0.5], [0.8, 0.5]])
    table = task_metrics(labels, scores)
    # ranking 0.8(+) 0.4(-) 0.35(+) 0.1(-): 3 of 4 positive-negative pairs ordered right
    assert table.loc[0, "auroc"] == pytest.approx(0.75)
    # PR points (recall, precision): (0, 1) (.5, 1) (.5, .5) (1, 2/3) (1, .5); trapezoids give
    # .5·1 + .5·(1/2 + 2/3)/2 = 0.791667 (average precision would be 0.8333)
    assert table.loc[0, "aupr"] == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)
    assert (table.loc[0, "n_pos"], table.loc[0, "n_neg"]) == (2, 2)
    assert math.isnan(table.loc[1, "auroc"]) and math.isnan(table.loc[1, "aupr"])


class FirstBase(nn.Module):
    """Logit = code of the first base (so the RC pass sees the complement of the last base)."""

    def forward(self, x):
        return x[:, :1].float().repeat(1, 3), None


def test_predictions_average_forward_and_reverse_complement(tmp_path):
    split = ShardSplit(write_shards(tmp_path / "d", n_train=5, n_valid=5, n_test=9, length=12),
                       "test")
    probs = predict(FirstBase(), split, batch_size=4)
    x = np.asarray(split.x)
    complement_of_last = np.array([3, 2, 1, 0, 4])[x[:, -1]]
    sigmoid = 1 / (1 + np.exp(-np.stack([x[:, 0], complement_of_last]).astype(float)))
    assert probs.shape == (9, 3)
    np.testing.assert_allclose(probs[:, 1], sigmoid.mean(axis=0), rtol=1e-6)


def _model_file(path, n_tasks, tasks):
    torch.manual_seed(0)
    model = TBiNet(make_config("tbinet", 100, n_tasks, SMALL_TBINET))
    save_model(model, path, ModelInfo(config=model.config, tasks=tasks))
    return path


def test_evaluate_cli_writes_the_table_and_excludes_single_class_tasks(tmp_path, capsys):
    data = write_shards(tmp_path / "d", n_train=10, n_valid=10, n_test=30)
    y = np.load(data / "test.y.npy")
    y[:, 2] = 0
    np.save(data / "test.y.npy", y)
    model = _model_file(tmp_path / "m.safetensors", 3, ShardSplit(data, "test").tasks)
    assert main(["evaluate", "--model", str(model), "--data", str(data), "-o",
                 str(tmp_path / "t.tsv"), "--json", str(tmp_path / "s.json")]) == 0
    table = pd.read_csv(tmp_path / "t.tsv", sep="\t")
    assert table.columns.tolist() == ["index", "cell_type", "target", "treatment", "n_pos",
                                      "n_neg", "auroc", "aupr"]
    assert table["auroc"].isna().tolist() == [False, False, True]
    out = capsys.readouterr().out
    assert "2 of 3 tasks evaluated (1 single-class" in out
    assert f"{table['auroc'][:2].mean():.4f}" in out and "paper Table 4" not in out


def test_deepsea_task_set_is_shown_beside_paper_table4(tmp_path):
    tasks = tbinet_tasks()
    data = write_shards(tmp_path / "d", n_train=4, n_valid=4, n_test=6,
                        tasks=tasks.to_dict(orient="records"))
    y = np.zeros((6, 690), np.uint8)
    y[::2] = 1
    np.save(data / "test.y.npy", y)
    model = _model_file(tmp_path / "m.safetensors", 690, tasks)
    table, summary = evaluate(str(model), str(data))
    assert len(table) == 690 and summary["n_tasks_evaluated"] == 690
    assert summary["paper_table4"]["TBiNet"] == {"mean_auroc": 0.9473, "mean_aupr": 0.3332}
    text = format_summary(summary)
    assert "DanQ (paper Table 4)" in text and "0.9316" in text and "0.2485" in text


def test_evaluate_checks_the_model_against_the_data(tmp_path):
    data = write_shards(tmp_path / "d", n_train=4, n_valid=4, n_test=4)
    model = _model_file(tmp_path / "m.safetensors", 5, generic_tasks(5))
    with pytest.raises(ValueError, match="predicts 5 tasks"):
        evaluate(str(model), str(data))
    shifted = generic_tasks(3).assign(index=[10, 11, 12])
    summary = evaluate(str(_model_file(tmp_path / "s.safetensors", 3, shifted)), str(data))[1]
    assert not summary["model_tasks_match_data"]
    assert "task indices differ" in format_summary(summary)
