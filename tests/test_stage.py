"""The typed scoring stage, the local engine and the option objects, on their own."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tbvar.engine import LocalEngine
from tbvar.genome import Genome
from tbvar.options import RunOptions, ScoreOptions, split_settings
from tbvar.run_summary import RunSummary
from tbvar.scoring import Scorer
from tbvar.stage import PreparedChunk, ScoringStage
from tbvar.variants import STATUS_OK, iter_vcf_chunks

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF


@pytest.fixture(scope="module")
def stage(small_model) -> ScoringStage:
    options = ScoreOptions(scores=("lod", "ref"), top_k=2)
    return ScoringStage(Genome(EXAMPLE_GENOME), Scorer(small_model, device="cpu", batch_size=3),
                        ["t0", "t1", "t2", "t3", "t4"], [4, 1], options)


def test_prepare_gathers_windows_of_scorable_alleles_only(stage: ScoringStage) -> None:
    chunk = next(iter_vcf_chunks(EXAMPLE_VCF, chunk_size=40))
    prepared = stage.prepare(chunk)
    assert isinstance(prepared, PreparedChunk)
    n_ok = int((prepared.alleles["status"] == STATUS_OK).sum())
    assert 0 < n_ok < len(prepared.alleles)
    assert prepared.windows.ref.shape == prepared.windows.alt.shape == (n_ok, 1000)


def test_stage_is_pure_and_counts_add_up(stage: ScoringStage) -> None:
    chunks = list(iter_vcf_chunks(EXAMPLE_VCF, chunk_size=6))
    first = [stage(chunk) for chunk in chunks]
    again = [stage(chunk) for chunk in reversed(chunks)][::-1]
    total = RunSummary()
    for one, two in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(one.rows, two.rows)
        assert one.counts == two.counts
        assert one.counts.alleles == len(one.rows)
        total.merge(one.counts)
    whole = stage(next(iter_vcf_chunks(EXAMPLE_VCF, chunk_size=100)))
    assert total.to_dict()["status_counts"] == whole.counts.to_dict()["status_counts"]
    assert (total.records, total.alleles, total.edge) == (
        whole.counts.records, whole.counts.alleles, whole.counts.edge)


def test_finish_reports_the_selected_tasks_of_the_model_scores(stage: ScoringStage) -> None:
    prepared = stage.prepare(next(iter_vcf_chunks(EXAMPLE_VCF, chunk_size=100)))
    scores = stage.infer(prepared.windows)
    rows = stage.finish(prepared, scores).rows
    ok = rows["status"].to_numpy() == STATUS_OK
    assert list(stage.score_columns) == ["lod.t4", "lod.t1", "ref.t4", "ref.t1"]
    np.testing.assert_array_equal(rows.loc[ok, "ref.t1"].to_numpy(), scores.ref[:, 1])
    np.testing.assert_array_equal(rows.loc[ok, "lod.t4"].to_numpy(), scores.lod[:, 4])
    assert rows.loc[~ok, "lod.t4"].isna().all()
    assert list(stage.template.columns) == list(rows.columns)


@pytest.mark.parametrize("model_thread", [False, True])
def test_local_engine_yields_in_order_and_skips(stage: ScoringStage, model_thread: bool) -> None:
    chunks = list(iter_vcf_chunks(EXAMPLE_VCF, chunk_size=4))
    engine = LocalEngine(stage, model_thread=model_thread)
    results = list(engine(chunks, lambda index: index % 3 == 1))
    assert [chunk.index for chunk, _ in results] == list(range(len(chunks)))
    for chunk, scored in results:
        if chunk.index % 3 == 1:
            assert scored is None
        else:
            pd.testing.assert_frame_equal(scored.rows, stage(chunk).rows)


def test_settings_go_to_the_option_object_that_has_them() -> None:
    what, how = split_settings({"scores": ["ref"], "batch_size": 7, "contig_map": {"1": "chr1"}})
    assert what == ScoreOptions(scores=("ref",), contig_map={"1": "chr1"})
    assert how == RunOptions(batch_size=7)
    base = ScoreOptions(top_k=1)
    assert split_settings({"tasks": ["CTCF"]}, base)[0] == dataclasses.replace(
        base, tasks=("CTCF",))
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['topk'\]"):
        split_settings({"topk": 3})
    with pytest.raises(TypeError):
        ScoreOptions(("lod",))  # keyword-only
    with pytest.raises(ValueError, match="unknown score"):
        ScoreOptions(scores=("lods",))
    with pytest.raises(ValueError, match="ref_mismatch"):
        ScoreOptions(ref_mismatch="ignore")
    with pytest.raises(ValueError, match="chunk_size"):
        RunOptions(chunk_size=0)
