"""Vectorised text columns (summaries, VCF INFO values) against per-value Python references."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tbvar.text import format_float_rows, format_floats, join_columns
from tbvar.variant_summaries import lod_summaries, top_k_order
from tbvar.vcf_writer import _record_info


def _significant_digits(text: str) -> str:
    mantissa = text.lstrip("-").split("e")[0].replace(".", "")
    return mantissa.strip("0") or "0"


def test_format_floats_is_the_shortest_float32_text():
    rng = np.random.default_rng(5)
    values = (rng.standard_normal(5000) * 10.0 ** rng.integers(-40, 38, 5000)).astype(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 1e-45, 3.4028235e38, 16777217, 0.1, np.nan],
                        dtype=np.float32)
    values = np.concatenate([values, specials])
    text = format_floats(values, missing="NA").tolist()
    assert text[-7:] == ["inf", "-inf", "1e-45", "3.4028235e+38", "16777216.0", "0.1", "NA"]
    for item, value in zip(text[:-1], values[:-1], strict=True):
        back = np.float32(item)
        assert back == value and np.signbit(back) == np.signbit(value), item
        # as short as numpy's shortest round-trip repr (Dragon4), digit for digit
        assert _significant_digits(item) == _significant_digits(str(value)), (item, value)
    assert format_floats([]).tolist() == []


def test_format_float_rows_matches_per_value_formatting():
    rng = np.random.default_rng(6)
    block = rng.standard_normal((6, 5)).astype(np.float32)
    block[1, 2] = np.nan
    block[3, 0], block[3, 4] = np.inf, -np.inf
    rows = format_float_rows(block, "\t", "NA")
    assert rows == ["\t".join(format_floats(row, missing="NA")) for row in block]
    assert "inf\t" in rows[3] and rows[1].split("\t")[2] == "NA"
    assert format_float_rows(np.zeros((0, 4)), "\t", "NA") == []
    assert format_float_rows(np.zeros((2, 0)), "\t", "NA") == ["", ""]


def test_join_columns_matches_str_join():
    parts = np.array([["a", "", "c"], ["d", "e", "f"]], dtype=object)
    assert join_columns(parts, "&").tolist() == ["a&&c", "d&e&f"]
    assert join_columns(parts[:, :1], "&").tolist() == ["a", "d"]
    assert join_columns(parts[:, :0], "&").tolist() == ["", ""]


def test_summaries_with_ties_and_top_tasks():
    labels = np.array(["A", "B", "C"], dtype=object)
    lod = np.array([[1.0, -1.0, 0.5],   # |lod| tie A, B: the first is the signed maximum
                    [0.0, 0.0, 0.0],    # all tie
                    [2.0, 3.0, -3.5],   # one maximum
                    [0.25, -2.0, 1.5]], dtype=np.float32)
    got = lod_summaries(lod, labels, top_k=2)
    assert got["max_lod_task"].tolist() == ["A&B", "A&B&C", "C", "B"]
    assert got["max_lod"].tolist() == [1.0, 0.0, -3.5, -2.0]
    assert got["max_abslod"].tolist() == [1.0, 0.0, 3.5, 2.0]
    assert got["top_tasks"].tolist() == ["A:1.0&B:-1.0", "A:0.0&B:0.0", "C:-3.5&B:3.0",
                                         "B:-2.0&C:1.5"]
    assert lod_summaries(lod, labels, top_k=0)["top_tasks"].tolist() == [""] * 4
    empty = lod_summaries(np.zeros((0, 3), np.float32), labels, top_k=2)
    assert all(len(column) == 0 for column in empty.values())


def _reference_record_info(rows: pd.DataFrame, n_records: int) -> list[str]:
    """One record at a time, one value at a time."""
    def value(row, key: str) -> str:
        if key == "TBVAR_STATUS":
            return row.status
        if key == "TBVAR_FLAGS":
            mismatch = row.status == "ok" and not row.ref_match
            flags = [name for name, on in (("ref_mismatch", mismatch), ("swapped", row.swapped),
                                           ("contains_n", row.contains_n), ("edge", row.edge))
                     if on]
            return "&".join(flags) or "."
        if key in ("TBVAR_MAXLOD_TASK", "TBVAR_TOPK"):
            text = row.max_lod_task if key == "TBVAR_MAXLOD_TASK" else row.top_tasks
            return text if isinstance(text, str) and text else "."
        number = {"TBVAR_MAXLOD": row.max_lod, "TBVAR_ATTN_SHIFT": row.attn_shift,
                  "TBVAR_ATTN_CENTER": row.attn_center}[key]
        return "." if np.isnan(number) else str(np.float32(number))

    keys = ["TBVAR_STATUS", "TBVAR_FLAGS", "TBVAR_MAXLOD", "TBVAR_MAXLOD_TASK", "TBVAR_TOPK",
            "TBVAR_ATTN_SHIFT", "TBVAR_ATTN_CENTER"]
    first = int(rows["record_index"].iloc[0])
    out = []
    for record in range(n_records):
        mine = [row for row in rows.itertuples()
                if row.record_index == first + record and row.alt_index >= 0]
        # a record without ALT carries only its status
        out.append(";".join(f"{key}={','.join(value(row, key) for row in mine)}"
                            for key in keys) if mine else "TBVAR_STATUS=no_alt")
    return out


def test_record_info_matches_a_per_record_reference():
    rng = np.random.default_rng(3)
    alts_per_record = [1, 0, 3, 1, 2, 1, 0, 1]   # 0: a record without ALT (status no_alt)
    record_index, alt_index = [], []
    for record, n_alts in enumerate(alts_per_record, start=40):
        record_index += [record] * max(n_alts, 1)
        alt_index += list(range(n_alts)) if n_alts else [-1]
    n = len(record_index)
    status = rng.choice(["ok", "ok", "ref_mismatch", "too_long"], n).astype(object)
    status[np.array(alt_index) < 0] = "no_alt"
    scored = status == "ok"
    numbers = np.where(scored[:, None], rng.standard_normal((n, 3)), np.nan).astype(np.float32)
    rows = pd.DataFrame({
        "record_index": record_index, "alt_index": alt_index, "status": status,
        "ref_match": rng.random(n) < 0.7, "swapped": rng.random(n) < 0.2,
        "contains_n": rng.random(n) < 0.3, "edge": rng.random(n) < 0.3,
        "max_lod": numbers[:, 0], "attn_shift": numbers[:, 1], "attn_center": numbers[:, 2],
        "max_lod_task": np.where(scored, "T1&T2", "").astype(object),
        "top_tasks": np.where(scored, "T1:0.5&T2:-0.25", "").astype(object),
    })
    got = _record_info(rows, len(alts_per_record)).tolist()
    assert got == _reference_record_info(rows, len(alts_per_record))
    assert got[1] == "TBVAR_STATUS=no_alt" and got[2].count(",") == 2 * 7  # 3 ALTs: 2 commas
    assert _record_info(rows.iloc[:0], 0).tolist() == []


def test_top_k_order_equals_a_stable_descending_argsort():
    rng = np.random.default_rng(9)
    for width, k in [(690, 5), (12, 3), (7, 7), (5, 9), (30, 1)]:
        values = rng.integers(0, 4, (400, width)).astype(np.float32)  # many ties
        values[rng.random(values.shape) < 0.05] = np.nan
        values[:3] = 0.0
        values[3] = np.nan
        expected = np.argsort(-values, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(top_k_order(values, k), expected)
        smooth = rng.standard_normal((50, width))
        np.testing.assert_array_equal(top_k_order(smooth, k),
                                      np.argsort(-smooth, axis=1, kind="stable")[:, :k])
