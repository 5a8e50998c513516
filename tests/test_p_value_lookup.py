"""Background p-values against a brute-force count of the null values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tbvar.background import Background


def brute_force(null: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``(r + 1) / (k + 1)``, r = null values ≥ |value| counted one by one (NaN → NaN)."""
    at_least = (null[None, :, :] >= np.abs(values)[:, None, :]).sum(axis=1)
    p = ((at_least + 1) / (len(null) + 1)).astype(np.float32)
    p[np.isnan(values)] = np.nan
    return p


def lookup(null: np.ndarray) -> Background:
    """A background holding ``null`` ``(k, C)`` (ascending per column) as its lod."""
    return Background({"lod": null}, {"lod": np.ones(null.shape[1])}, len(null))


def check(null: np.ndarray, values: np.ndarray) -> None:
    null = np.sort(np.abs(null.astype(np.float32)), axis=0)
    got = lookup(null).p_values("lod", values.astype(np.float32))
    np.testing.assert_array_equal(got, brute_force(null, values.astype(np.float32)))


def test_heavy_tails_ties_and_the_null_values_themselves() -> None:
    rng = np.random.default_rng(0)
    null = rng.standard_t(2, size=(3000, 7)) * rng.uniform(1e-3, 1e3, 7)
    null[:400, 2] = 0.0  # a column where a seventh of the null is exactly zero
    null[:, 3] = 1.5  # a column of one value
    values = np.concatenate([null[:500], -null[500:900],
                             rng.standard_t(2, size=(600, 7)) * 10,
                             [[np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, 3e38]]])
    check(null, values)


def test_many_ties_and_neighbouring_floats() -> None:
    # 2,000 null values on 64 levels between 1 and 1 + 2^-12, queried one ULP either side
    rng = np.random.default_rng(1)
    crowded = 1 + rng.integers(0, 64, (2000, 2)) / 2**18
    null = np.concatenate([crowded, rng.uniform(0, 1e6, (20, 2))])
    values = np.concatenate([null, null * (1 + 2**-23), null * (1 - 2**-23)])
    check(null, values)


def test_one_null_value() -> None:
    check(np.array([[2.0]]), np.array([[0.0], [2.0], [-2.0], [2.5], [np.nan]]))


finite = st.floats(-2.0**100, 2.0**100, allow_nan=False, width=32)


@settings(max_examples=150, deadline=None)
@given(null=arrays(np.float32, st.tuples(st.integers(1, 80), st.integers(1, 4)), elements=finite),
       values=arrays(np.float32, st.tuples(st.integers(0, 30), st.just(1)),
                     elements=st.floats(width=32) | st.sampled_from([0.0, 1.0, 2.0])))
def test_any_null_and_any_value(null: np.ndarray, values: np.ndarray) -> None:
    values = np.repeat(values, null.shape[1], axis=1)
    values = np.concatenate([values, null[: min(len(null), 10)]])  # exact ties too
    check(null, values)


def test_columns_pick_the_null_of_each_value_column() -> None:
    rng = np.random.default_rng(2)
    null = np.sort(np.abs(rng.standard_t(3, (500, 6))).astype(np.float32) * np.arange(1, 7),
                   axis=0)
    background = lookup(null)
    values = rng.standard_t(3, (40, 6)).astype(np.float32) * 3
    full = background.p_values("lod", values)
    columns = np.array([5, 0, 0, 3])
    np.testing.assert_array_equal(background.p_values("lod", values[:, columns], columns),
                                  full[:, columns])
    for bad in (np.array([6]), np.array([-1])):
        with pytest.raises(ValueError, match="columns outside"):
            background.p_values("lod", values[:, :1], bad)
    with pytest.raises(ValueError, match="for 2 columns"):
        background.p_values("lod", values[:, :3], np.array([0, 1]))
