"""Progress in a log file: a line every interval with share and ETA, one at the end."""

from __future__ import annotations

import io
import re

import tbvar
from tbvar.progress import Progress

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF


def test_lines_with_total_share_and_eta() -> None:
    log = io.StringIO()
    with Progress(total=200, interval=0, desc="tbvar score", stream=log) as progress:
        for _ in range(4):
            progress.update(50)
    lines = log.getvalue().splitlines()
    assert len(lines) == 4  # one per update at interval 0, none repeated at the end
    assert re.fullmatch(r"tbvar score: 50 of 200 records \(25 %\), [\d,]+ records/s, "
                        r"ETA \d+:\d\d:\d\d", lines[0])
    assert lines[-1].startswith("tbvar score: 200 of 200 records (100 %)")


def test_unknown_total_interval_and_disabled() -> None:
    log = io.StringIO()
    with Progress(total=None, interval=3600, stream=log) as progress:
        progress.update(1234)
    assert re.fullmatch(r"tbvar: 1,234 records, [\d,]+ records/s\n", log.getvalue())
    quiet = io.StringIO()
    with Progress(total=10, enabled=False, interval=0, stream=quiet) as progress:
        progress.update(10)
    assert quiet.getvalue() == ""


def test_scoring_reports_progress_in_a_log(small_model_file, capsys) -> None:
    tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, device="cpu",
                    progress=True, progress_interval=0, chunk_size=10)
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("tbvar score")]
    assert [line.split(" records")[0] for line in lines] == [
        "tbvar score: 10 of 35", "tbvar score: 20 of 35", "tbvar score: 30 of 35",
        "tbvar score: 35 of 35"]


def test_evaluate_reports_progress(tmp_path, capsys) -> None:
    from tbvar.checkpoint import ModelInfo, save_model
    from tbvar.model import TBiNet, TBiNetConfig
    from tbvar.tasks import generic_tasks
    from tbvar_train.evaluate import evaluate
    from tests.train_fit_data import write_shards

    data = write_shards(tmp_path / "shards", n_train=20, n_valid=10, n_test=30, length=100)
    config = TBiNetConfig(sequence_length=100, n_kernels=4, kernel_width=8, pool_size=4,
                          lstm_units=4, dense_units=4, n_tasks=3)
    save_model(TBiNet(config), tmp_path / "m.safetensors",
               ModelInfo(config=config, tasks=generic_tasks(3)))
    evaluate(str(tmp_path / "m.safetensors"), str(data), batch_size=8, device="cpu",
             progress=True)
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        "tbvar-train evaluate: 30 of 30 sequences (100 %)")
