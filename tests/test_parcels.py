"""Parcels: objects with large arrays between processes through a file, exactly, and inline
when the file cannot be written."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tbvar.parcels import ALIGN, Parcel, pack, parcel_directory, unpack
from tbvar.scores import VariantScores


def _scores(n: int = 37, tasks: int = 11) -> VariantScores:
    rng = np.random.default_rng(5)
    ref = rng.random((n, tasks), dtype=np.float32)
    ref[0, 0], ref[1, 1] = np.nan, np.float32(1e-45)  # NaN and a subnormal, bit for bit
    return VariantScores(ref=ref, alt=rng.random((n, tasks), dtype=np.float32),
                         ref_attention=rng.random((n, 7), dtype=np.float32),
                         alt_attention=np.asfortranarray(rng.random((n, 7)).astype(np.float32)),
                         center_bin=3, tasks=np.array([4, 1, 9]))


def _equal(one: VariantScores, two: VariantScores) -> None:
    for name in ("ref", "alt", "ref_attention", "alt_attention", "tasks"):
        a, b = getattr(one, name), getattr(two, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
    assert one.center_bin == two.center_bin


def test_arrays_go_through_a_file_and_come_back_bit_for_bit(tmp_path: Path) -> None:
    scores = _scores()
    parcel = pack(scores, tmp_path)
    assert parcel.path is not None and Path(parcel.path).parent == tmp_path
    assert len(parcel.sizes) == 5 and len(parcel.pickled) < 2000  # the arrays are in the file
    assert os.path.getsize(parcel.path) == sum(-(-s // ALIGN) * ALIGN for s in parcel.sizes)
    got = unpack(parcel)
    _equal(got, scores)
    assert not Path(parcel.path).exists()  # read once, then removed
    for name in ("ref", "alt", "ref_attention"):  # aligned views, usable in place
        array = getattr(got, name)
        assert array.ctypes.data % ALIGN == got.ref.ctypes.data % ALIGN
        array += 0


def test_objects_without_large_buffers_and_frames_round_trip(tmp_path: Path) -> None:
    assert unpack(pack(("windows", None, {"INFO": {"DP": True}}), tmp_path)) == (
        "windows", None, {"INFO": {"DP": True}})
    assert pack(b"plain bytes", tmp_path).path is None
    frame = pd.DataFrame({"a": np.arange(5), "b": list("vwxyz"), "c": np.linspace(0, 1, 5)})
    pd.testing.assert_frame_equal(unpack(pack(frame, tmp_path)), frame)
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_cannot_take_the_file_sends_the_object_inline(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    parcel = pack(_scores(), missing)
    assert parcel == Parcel(parcel.pickled) and parcel.path is None
    _equal(unpack(parcel), _scores())
    assert not missing.exists()


def _receive(parcel: Parcel, results: multiprocessing.Queue) -> None:
    scores = unpack(parcel)
    results.put(float(np.nansum(scores.ref)) + float(scores.alt.sum()))


def test_another_process_opens_the_parcel() -> None:
    directory = parcel_directory()
    try:
        scores = _scores(n=2000, tasks=690)
        parcel = pack(scores, directory)
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        worker = context.Process(target=_receive, args=(parcel, results))
        worker.start()
        total = results.get(timeout=60)
        worker.join()
        assert total == float(np.nansum(scores.ref)) + float(scores.alt.sum())
        assert list(directory.iterdir()) == []
    finally:
        directory.rmdir()
    assert not directory.exists()


def test_parcels_live_in_shared_memory_where_there_is_one() -> None:
    directory = parcel_directory()
    try:
        if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
            assert directory.parent == Path("/dev/shm")
        assert directory.name.startswith("tbvar-parcels-")
    finally:
        directory.rmdir()


def test_a_truncated_file_is_an_error(tmp_path: Path) -> None:
    parcel = pack(_scores(), tmp_path)
    with open(parcel.path, "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(EOFError, match="bytes missing"):
        unpack(parcel)
