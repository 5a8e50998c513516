"""The example VCF (good and bad records) through every writer: nothing lost, all agree."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
from cyvcf2 import VCF

import tbvar
from tbvar.scoring import Scorer

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF

EXPECTED_STATUS = {"ok": 30, "ref_mismatch": 1, "symbolic_allele": 1, "ambiguous_allele": 1,
                   "too_long": 1, "no_alt": 1, "unknown_contig": 1}


def input_records() -> list[str]:
    return [line for line in EXAMPLE_VCF.read_text().splitlines() if not line.startswith("#")]


@pytest.fixture(scope="module")
def api_frame(small_model_file: Path) -> pd.DataFrame:
    return tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, device="cpu",
                           scores=("lod", "diff", "ref", "alt"), chunk_size=7, top_k=3)


def test_every_record_accounted_for(api_frame: pd.DataFrame) -> None:
    summary = api_frame.attrs["summary"]
    records = input_records()
    assert summary["records"] == len(records) == 35
    assert summary["alleles"] == len(api_frame) == 36  # one record has two ALTs
    assert summary["status_counts"] == EXPECTED_STATUS
    assert sum(summary["status_counts"].values()) == summary["alleles"]
    assert sorted(api_frame["record_index"].unique()) == list(range(35))
    notes = [line.split("NOTE=")[1] for line in records]
    for index, note in enumerate(notes):
        statuses = set(api_frame.loc[api_frame["record_index"] == index, "status"])
        if note.startswith("bad"):
            assert statuses != {"ok"}, note
        else:
            assert statuses == {"ok"}, note
    assert summary["flags"] == {"edge": 1, "contains_n": 2, "swapped": 0, "ref_differs": 0}


def test_unscored_rows_carry_no_scores(api_frame: pd.DataFrame) -> None:
    bad = api_frame[api_frame["status"] != "ok"]
    assert bad[[c for c in api_frame.columns if c.startswith("lod.")]].isna().all().all()
    ok = api_frame[api_frame["status"] == "ok"]
    assert ok[[c for c in api_frame.columns if c.startswith("lod.")]].notna().all().all()


def test_summary_columns_follow_from_task_columns(api_frame: pd.DataFrame) -> None:
    ok = api_frame[api_frame["status"] == "ok"]
    lod = ok[[f"lod.NA|task{j}|None" for j in range(5)]].to_numpy()
    np.testing.assert_array_equal(ok["max_abslod"].to_numpy(), np.abs(lod).max(axis=1))
    best = np.abs(lod).argmax(axis=1)
    assert ok["max_lod_task"].tolist() == [f"NA|task{j}|None" for j in best]
    first_top = [t.split("&")[0].rsplit(":", 1) for t in ok["top_tasks"]]
    assert [t[0] for t in first_top] == ok["max_lod_task"].tolist()
    assert all(len(t.split("&")) == 3 for t in ok["top_tasks"])
    diff = ok[[f"diff.NA|task{j}|None" for j in range(5)]].to_numpy()
    alt_minus_ref = (ok[[f"alt.NA|task{j}|None" for j in range(5)]].to_numpy()
                     - ok[[f"ref.NA|task{j}|None" for j in range(5)]].to_numpy())
    np.testing.assert_array_equal(diff, alt_minus_ref)


@pytest.mark.parametrize("suffix", [".vcf", ".vcf.gz", ".bcf"])
def test_annotated_vcf_rereads_with_cyvcf2_and_pysam(tmp_path: Path, small_model_file: Path,
                                                      api_frame: pd.DataFrame,
                                                      suffix: str) -> None:
    out = tmp_path / f"out{suffix}"
    summary = tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, output=out,
                              device="cpu", chunk_size=7, command="pytest")
    assert summary.to_dict()["status_counts"] == EXPECTED_STATUS
    # no temporary files left; the JSON summary sidecar is written beside the output
    index = {".vcf.gz": [f"{out.name}.tbi"], ".bcf": [f"{out.name}.csi"]}.get(suffix, [])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [out.name, *index, f"{out.name}.summary.json"])
    reader = VCF(str(out))
    assert "##tbvar_logit_eps=1e-07" in reader.raw_header
    assert "##tbvar_rc_average=true" in reader.raw_header
    assert "##tbvar_command=pytest" in reader.raw_header
    records = list(reader)
    assert len(records) == 35
    ok = api_frame["status"] == "ok"
    statuses, maxlods = [], []
    for record in records:
        assert record.INFO.get("NOTE") is not None  # input INFO kept
        if record.ALT:
            statuses += record.INFO.get("TBVAR_STATUS").split(",")  # Number=A strings
            value = record.INFO.get("TBVAR_MAXLOD")
            maxlods += list(value) if isinstance(value, tuple) else [value]
    with_alt = api_frame[api_frame["alt_index"] >= 0]
    assert statuses == with_alt["status"].tolist()
    got = np.array([np.nan if v is None else v for v in maxlods], dtype=np.float32)
    np.testing.assert_array_equal(got[(with_alt["status"] == "ok").to_numpy()],
                                  api_frame.loc[ok, "max_lod"].to_numpy(np.float32))
    with pysam.VariantFile(str(out)) as handle:
        pysam_records = list(handle)
        assert "TBVAR_ATTN_SHIFT" in handle.header.info
    assert len(pysam_records) == 35
    shifts = [v for r in pysam_records for v in r.info.get("TBVAR_ATTN_SHIFT", ())]
    np.testing.assert_array_equal(
        np.array([np.nan if v is None else v for v in shifts], dtype=np.float32)[
            (with_alt["status"] == "ok").to_numpy()],
        api_frame.loc[ok, "attn_shift"].to_numpy(np.float32))


def test_vcf_keeps_input_columns_verbatim(tmp_path: Path, small_model_file: Path) -> None:
    out = tmp_path / "out.vcf"
    tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, output=out, device="cpu")
    body = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    for before, after in zip(input_records(), body, strict=True):
        assert after.split("\t")[:7] == before.split("\t")[:7]
        assert after.split("\t")[7].startswith(before.split("\t")[7])


def _plain(values: pd.Series) -> list:
    """Values with missing ones as None and numbers as float (a TSV reads Int32 as float)."""
    return [None if pd.isna(v) else v if isinstance(v, (bool, np.bool_, str)) else float(v)
            for v in values.astype(object)]


@pytest.mark.parametrize("name", ["out.tsv", "out.tsv.gz", "out.parquet"])
def test_tables_equal_api_frame(tmp_path: Path, small_model_file: Path,
                                api_frame: pd.DataFrame, name: str) -> None:
    out = tmp_path / name
    tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, output=out, device="cpu",
                    scores=("lod", "diff", "ref", "alt"), chunk_size=7, top_k=3)
    if name.endswith(".parquet"):
        table = pd.read_parquet(out)
    else:
        with (gzip.open(out, "rt") if name.endswith(".gz") else open(out)) as handle:
            table = pd.read_csv(handle, sep="\t")  # missing values are written as NA
    assert list(table.columns) == list(api_frame.columns)
    assert len(table) == len(api_frame)
    for column in api_frame.columns:
        want, got = api_frame[column], table[column]
        if isinstance(want.dtype, pd.api.extensions.ExtensionDtype):  # nullable Int32/boolean
            assert _plain(got) == _plain(want), column
        elif want.dtype.kind == "f":
            np.testing.assert_array_equal(got.to_numpy(np.float32), want.to_numpy(np.float32),
                                          err_msg=column)
        elif want.dtype.kind in "iub":
            np.testing.assert_array_equal(got.to_numpy(), want.to_numpy(), err_msg=column)
        else:
            assert [("" if pd.isna(v) else str(v)) for v in got] == \
                   [("" if pd.isna(v) else str(v)) for v in want], column


def test_failed_run_leaves_no_output(tmp_path: Path, small_model_file: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = Scorer.score

    def failing(self: Scorer, *args: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated device failure")
        return original(self, *args)

    monkeypatch.setattr(Scorer, "score", failing)
    for name in ("out.vcf.gz", "out.parquet"):
        calls["n"] = 0
        with pytest.raises(RuntimeError, match="simulated"):
            tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file,
                            output=tmp_path / name, device="cpu", chunk_size=4)
    assert list(tmp_path.iterdir()) == []


def test_task_selection_limits_columns(small_model_file: Path) -> None:
    frame = tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, device="cpu",
                            tasks=["1", "task3"], scores=("lod",))
    assert [c for c in frame.columns if c.startswith("lod.")] == ["lod.NA|task1|None",
                                                                  "lod.NA|task3|None"]
    with pytest.raises(ValueError, match="no task matches 'CTCF'"):
        tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, tasks=["CTCF"])


def test_tsv_quotes_awkward_text_and_reads_back_exactly(tmp_path: Path,
                                                        small_model_file: Path) -> None:
    # IDs from a DataFrame can hold what a VCF line cannot: tabs, quotes, line breaks
    ids = ['plain', 'has\ttab', 'say "hi"', 'two\nlines', 'cr\rhere', '', None]
    variants = pd.DataFrame({"chrom": "chr17", "pos": 7_520_000 + np.arange(len(ids)) * 7,
                             "ref": "N", "alt": "A", "id": ids})
    genome = tbvar.genome.Genome(EXAMPLE_GENOME)
    variants["ref"] = [genome.fetch("chr17", p - 1, p) for p in variants["pos"]]
    variants["alt"] = ["A" if r != "A" else "C" for r in variants["ref"]]
    out = tmp_path / "out.tsv"
    tbvar.score_variants(variants, EXAMPLE_GENOME, small_model_file, output=out, device="cpu",
                         scores=("lod", "ref"))
    frame = tbvar.score_variants(variants, EXAMPLE_GENOME, small_model_file, device="cpu",
                                 scores=("lod", "ref"))
    table = pd.read_csv(out, sep="\t", keep_default_na=False, na_values=["NA"])
    assert len(table) == len(ids)
    assert table["id"].fillna("NA").tolist() == ["plain", "has\ttab", 'say "hi"', "two\nlines",
                                                 "cr\rhere", "", "NA"]
    assert (frame["status"] == "ok").all()
    for column in frame.columns:
        if frame[column].dtype.kind == "f":
            np.testing.assert_array_equal(table[column].to_numpy(np.float32),
                                          frame[column].to_numpy(np.float32), err_msg=column)
    assert table["ref_match"].tolist() == [True] * len(ids)


def test_bgzf_compresses_in_threads_and_in_a_forked_child() -> None:
    import gzip
    import multiprocessing

    from tbvar import bgzf

    data = bytes(range(256)) * 1000  # 4 blocks
    parallel = bgzf.compress(data)
    assert parallel == b"".join(bgzf._block(data[i:i + bgzf.BLOCK_INPUT])
                                for i in range(0, len(data), bgzf.BLOCK_INPUT))
    assert gzip.decompress(parallel + bgzf.EOF) == data
    with multiprocessing.get_context("fork").Pool(1) as pool:  # pool created in the parent
        assert pool.apply_async(bgzf.compress, (data,)).get(timeout=60) == parallel


@pytest.mark.parametrize("name", ["out.vcf.gz", "out.tsv", "out.parquet"])
def test_model_thread_pipeline_writes_the_same_bytes(tmp_path: Path, small_model_file: Path,
                                                     name: str) -> None:
    # the accelerator pipeline (model in its own thread) is used on CUDA; force it on the CPU
    outputs = {}
    for model_thread in (False, True):
        out = tmp_path / str(model_thread) / name
        out.parent.mkdir()
        tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, output=out,
                        device="cpu", chunk_size=4, batch_size=3, model_thread=model_thread)
        outputs[model_thread] = out.read_bytes()
    assert outputs[True] == outputs[False]


def test_model_thread_failure_reaches_the_caller_and_leaves_no_output(
        tmp_path: Path, small_model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original, calls = Scorer.score, []

    def failing(self, ref, alt, *rest):
        calls.append(len(ref))
        if len(calls) == 3:
            raise RuntimeError("device lost")
        return original(self, ref, alt, *rest)

    monkeypatch.setattr(Scorer, "score", failing)
    out = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError, match="device lost"):
        tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, output=out,
                        device="cpu", chunk_size=4, model_thread=True)
    assert len(calls) == 3 and list(tmp_path.iterdir()) == []


def test_compressed_vcf_and_bcf_get_an_index_when_sorted(tmp_path: Path,
                                                        small_model_file: Path) -> None:
    for name in ("out.vcf.gz", "out.bcf"):
        out = tmp_path / name
        tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, small_model_file, output=out,
                        device="cpu")
        with pysam.VariantFile(str(out)) as vcf:  # a region query needs the index
            fetched = [r.pos for r in vcf.fetch("chr17", 7_520_000, 7_525_000)]
        assert fetched and all(7_519_000 < p <= 7_525_000 for p in fetched)
        assert Path(f"{out}.{'csi' if name.endswith('bcf') else 'tbi'}").exists()
    lines = EXAMPLE_VCF.read_text().splitlines()
    body = [line for line in lines if not line.startswith("#")]
    unsorted = tmp_path / "unsorted.vcf"
    unsorted.write_text("\n".join([x for x in lines if x.startswith("#")] + body[::-1]) + "\n")
    out = tmp_path / "out.vcf.gz"  # its index from the sorted run must not stay
    tbvar.score_vcf(unsorted, EXAMPLE_GENOME, small_model_file, output=out, device="cpu")
    assert not Path(f"{out}.tbi").exists()
    assert len(VCF(str(out)).raw_header) and sum(1 for _ in VCF(str(out))) == len(body)
