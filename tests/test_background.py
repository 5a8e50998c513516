"""Background null distributions, the bottom-k sample and p-value combinations, on their own."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from tbvar.background import Background, BackgroundError, mismatches
from tbvar.null_sample import NullSample, row_priority
from tbvar.pvalues import benjamini_hochberg, simes


def test_p_values_count_the_background_at_least_as_extreme() -> None:
    rng = np.random.default_rng(0)
    null = rng.normal(size=(200, 3)).astype(np.float32)
    background = Background({"lod": np.sort(np.abs(null), axis=0)}, {"lod": np.ones(3)}, 200)
    values = rng.normal(size=(50, 3)).astype(np.float32) * 2
    values[0] = null[0]  # ties count as at least as extreme
    values[1, 0] = np.nan
    got = background.p_values("lod", values)
    for i in range(len(values)):
        for j in range(3):
            if np.isnan(values[i, j]):
                assert np.isnan(got[i, j])
                continue
            r = np.sum(np.abs(null[:, j]) >= abs(values[i, j]))
            assert got[i, j] == np.float32((r + 1) / 201)
    extreme = background.p_values("lod", np.full((1, 3), 1e9, np.float32))
    np.testing.assert_array_equal(extreme, np.full((1, 3), 1 / 201, np.float32))


def test_p_values_count_ties_zeros_and_infinities_in_every_column() -> None:
    rng = np.random.default_rng(3)
    levels = np.array([0.0, 0.5, 1.0, 2.0, 4.0], np.float32)
    null = np.sort(rng.choice(levels, size=(64, 9)), axis=0)
    background = Background({"lod": null}, {"lod": np.ones(9)}, 64)
    values = rng.choice(np.r_[levels, -levels, np.inf, 3.0], size=(40, 9)).astype(np.float32)
    at_least = (null[None, :, :] >= np.abs(values)[:, None, :]).sum(axis=1)
    np.testing.assert_array_equal(background.p_values("lod", values),
                                  ((at_least + 1) / 65).astype(np.float32))


def test_p_values_of_background_draws_are_uniform() -> None:
    rng = np.random.default_rng(1)
    null = rng.standard_t(3, size=(5000, 1)).astype(np.float32)
    background = Background({"lod": np.sort(np.abs(null), axis=0)}, {"lod": np.ones(1)}, 5000)
    fresh = rng.standard_t(3, size=(20000, 1)).astype(np.float32)
    p = background.p_values("lod", fresh)[:, 0]
    for level in (0.01, 0.05, 0.2, 0.5):  # P(p <= a) = floor(a (k+1)) / (k+1) for a valid p
        assert abs(np.mean(p <= level) - level) < 4 * np.sqrt(level * (1 - level) / 20000)


def test_z_is_lod_over_the_background_rms_and_missing_scores_are_named() -> None:
    background = Background({"lod": np.zeros((2, 2), np.float32)}, {"lod": np.array([2.0, 0.5])},
                            10, path="bg.safetensors")
    np.testing.assert_allclose(background.z_scores("lod", np.array([[1.0, -1.0]])), [[0.5, -2]])
    with pytest.raises(BackgroundError, match=r"bg.safetensors: holds no 'attn_shift' scores "
                                              r"\(it holds lod\)"):
        background.p_values("attn_shift", np.zeros((1, 1)))


def test_file_round_trip_and_bad_files(tmp_path) -> None:
    rng = np.random.default_rng(2)
    original = Background({"lod": np.sort(rng.random((7, 4), np.float32), axis=0),
                           "max_abslod": np.sort(rng.random((7, 1), np.float32), axis=0)},
                          {"lod": rng.random(4), "max_abslod": rng.random(1)}, 123,
                          {"model_sha256": "ab", "options": {"precision": "fp32"}})
    path = tmp_path / "bg.safetensors"
    original.save(path)
    loaded = Background.load(path)
    assert loaded.n == 123 and loaded.meta == original.meta and loaded.sample_size == 7
    for name in original.sorted_abs:
        np.testing.assert_array_equal(loaded.sorted_abs[name], original.sorted_abs[name])
        np.testing.assert_array_equal(loaded.rms[name], original.rms[name])
    assert loaded.path == str(path) and len(loaded.sha256) == 64
    (tmp_path / "junk").write_bytes(b"not a background")
    with pytest.raises(BackgroundError, match="junk: not a tbvar background file"):
        Background.load(tmp_path / "junk")
    with pytest.raises(BackgroundError, match="no such background file"):
        Background.load(tmp_path / "missing")


def test_mismatches_name_what_differs() -> None:
    meta = {"model_sha256": "aa", "genome": {"path": "/g/hg19.fa", "assembly": "h19"},
            "options": {"precision": "fp32", "reverse_complement": True}}
    background = Background({"lod": np.zeros((1, 1), np.float32)}, {"lod": np.ones(1)}, 1, meta)
    same = {"precision": "fp32", "reverse_complement": True}
    assert mismatches(background, "aa", "h19", same) == []
    found = mismatches(background, "bb", "h38", {**same, "precision": "bf16"})
    assert [f.split(" ")[0] for f in found] == ["model", "genome", "precision"]
    assert "'fp32', this run: 'bf16'" in found[2]


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.arange(n), np.zeros(n, np.int64), rng.normal(size=(n, 3)).astype(np.float32)


def test_bottom_k_sample_is_the_k_smallest_priorities_in_any_chunking() -> None:
    records, alts, values = _rows(1000, 3)
    priority = row_priority(records, alts, seed=5)
    want = np.sort(np.argsort(priority)[:64])
    for order in (np.arange(10), np.random.default_rng(4).permutation(10)):
        sample = NullSample(64)
        for chunk in order:
            rows = slice(100 * chunk, 100 * chunk + 100)
            sample.add(priority[rows], {"lod": values[rows]})
        kept = np.sort(np.searchsorted(np.sort(priority), sample.priority))
        np.testing.assert_array_equal(np.sort(priority)[kept], np.sort(priority[want]))
        np.testing.assert_array_equal(np.sort(sample.values["lod"][:, 0]),
                                      np.sort(values[want, 0]))
        assert sample.n == 1000
        np.testing.assert_allclose(sample.sumsq["lod"], np.square(values, dtype=np.float64)
                                   .sum(axis=0), rtol=1e-12)
    background = sample.background({})
    np.testing.assert_array_equal(background.sorted_abs["lod"][:, 1],
                                  np.sort(np.abs(values[want, 1])))
    np.testing.assert_allclose(background.rms["lod"],
                               np.sqrt(np.mean(np.square(values, dtype=np.float64), axis=0)))


def test_priorities_are_uniform_and_seeded() -> None:
    records = np.arange(50_000)
    a = row_priority(records, np.zeros_like(records), 1)
    assert not np.array_equal(a, row_priority(records, np.zeros_like(records), 2))
    assert not np.array_equal(a, row_priority(records, np.ones_like(records), 1))
    top = (a >> np.uint64(60)).astype(int)  # 16 equal bins of the 64-bit range
    counts = np.bincount(top, minlength=16)
    assert np.all(np.abs(counts - 50_000 / 16) < 5 * np.sqrt(50_000 / 16))


def test_sample_state_round_trip() -> None:
    records, alts, values = _rows(300, 6)
    sample = NullSample(50)
    sample.add(row_priority(records, alts, 0), {"lod": values, "max_abslod": values[:, :1]})
    again = NullSample.from_state(sample.state())
    assert again.n == 300 and again.sample_size == 50
    np.testing.assert_array_equal(again.priority, sample.priority)
    for name in sample.values:
        np.testing.assert_array_equal(again.values[name], sample.values[name])
        np.testing.assert_array_equal(again.sumsq[name], sample.sumsq[name])


def test_simes_against_its_definition() -> None:
    rng = np.random.default_rng(7)
    p = rng.random((40, 6))
    p[0] = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    p[1, :3] = np.nan
    p[2] = np.nan
    got = simes(p)
    for i, row in enumerate(p):
        row = np.sort(row[~np.isnan(row)])
        want = min(len(row) * row[j] / (j + 1) for j in range(len(row))) if len(row) else np.nan
        np.testing.assert_allclose(got[i], min(want, 1.0), equal_nan=True)


def test_simes_of_complete_rows_in_float32_and_float64() -> None:
    p = ((np.random.default_rng(9).integers(0, 100, (30, 8)) + 1) / 101).astype(np.float32)
    want = [min(min(8 * row[j] / (j + 1) for j in range(8)), 1.0)
            for row in np.sort(p.astype(np.float64), axis=1)]
    np.testing.assert_array_equal(simes(p), want)
    np.testing.assert_array_equal(simes(p.astype(np.float64)), want)


def test_benjamini_hochberg_matches_scipy() -> None:
    rng = np.random.default_rng(8)
    p = np.concatenate([rng.random(500), rng.random(50) * 1e-4])
    p[[3, 70]] = np.nan
    q = benjamini_hochberg(p)
    present = ~np.isnan(p)
    np.testing.assert_allclose(q[present], false_discovery_control(p[present]), rtol=1e-12)
    assert np.isnan(q[~present]).all() and np.isnan(benjamini_hochberg(np.array([np.nan]))).all()
