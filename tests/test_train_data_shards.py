"""tbvar shard writer / reader: round trip, atomic commit, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tbvar.tasks import generic_tasks
from tbvar_train.shards import ShardError, ShardWriter, load_split, read_meta

TASKS = generic_tasks(3)


def test_round_trip_in_chunks(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(10, 7), dtype=np.uint8)
    y = rng.integers(0, 2, size=(10, 3), dtype=np.uint8)
    out = tmp_path / "shards"
    with ShardWriter(out, 7, TASKS, {"train": 10, "valid": 2}, True,
                     {"command": "test"}) as writer:
        writer.write("train", 6, x[6:], y[6:])  # any order
        writer.write("train", 0, x[:6], y[:6])
        writer.write("valid", 0, x[:2], y[:2])
        assert not out.exists()  # nothing visible before commit
        writer.commit()
    meta = read_meta(out)
    assert meta["splits"] == {"train": 10, "valid": 2, "test": 0}
    assert meta["tasks"][2] == {"index": 2, "cell_type": "NA", "target": "task2",
                                "treatment": "None"}
    assert meta["train_rc_augment"] is True and meta["provenance"] == {"command": "test"}
    x_out, y_out = load_split(out, "train")
    np.testing.assert_array_equal(x_out, x)
    np.testing.assert_array_equal(y_out, y)
    assert load_split(out, "test")[0].shape == (0, 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shards"]


def test_unwritten_rows_and_bad_values_abort(tmp_path):
    out = tmp_path / "s"
    with pytest.raises(ShardError, match="train has 4 unwritten rows"):
        with ShardWriter(out, 5, TASKS, {"train": 5}, True, {}) as writer:
            writer.write("train", 0, np.zeros((1, 5), np.uint8), np.zeros((1, 3), np.uint8))
            writer.commit()
    assert not list(tmp_path.iterdir())  # staging directory removed
    with ShardWriter(out, 5, TASKS, {"train": 2}, True, {}) as writer:
        with pytest.raises(ShardError, match="base codes must be 0..4"):
            writer.write("train", 0, np.full((2, 5), 5, np.uint8), np.zeros((2, 3), np.uint8))
        with pytest.raises(ShardError, match="labels must be 0 or 1"):
            writer.write("train", 0, np.zeros((2, 5), np.uint8), np.full((2, 3), 2, np.uint8))
        with pytest.raises(ShardError, match=r"rows 1..2 are outside 0..1"):
            writer.write("train", 1, np.zeros((2, 5), np.uint8), np.zeros((2, 3), np.uint8))
        with pytest.raises(ShardError, match=r"x has shape \(2, 4\)"):
            writer.write("train", 0, np.zeros((2, 4), np.uint8), np.zeros((2, 3), np.uint8))
    assert not list(tmp_path.iterdir())


def test_existing_directory_needs_overwrite(tmp_path):
    out = tmp_path / "s"
    for value in (0, 1):
        with ShardWriter(out, 2, TASKS, {"test": 1}, False, {}, overwrite=True) as writer:
            writer.write("test", 0, np.full((1, 2), value), np.zeros((1, 3)))
            writer.commit()
    assert load_split(out, "test")[0].tolist() == [[1, 1]]
    with pytest.raises(FileExistsError, match="already exists"):
        ShardWriter(out, 2, TASKS, {"test": 1}, False, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_read_meta_rejects_malformed(tmp_path):
    with pytest.raises(ShardError, match="meta.json: missing"):
        read_meta(tmp_path)
    with ShardWriter(tmp_path / "s", 4, TASKS, {"train": 1}, True, {}) as writer:
        writer.write("train", 0, np.zeros((1, 4)), np.zeros((1, 3)))
        writer.commit()
    meta_path = tmp_path / "s" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "version": 2}))
    with pytest.raises(ShardError, match="unsupported version 2"):
        read_meta(tmp_path / "s")
    meta_path.write_text(json.dumps({**meta, "splits": {"train": 3}}))
    with pytest.raises(ShardError, match=r"train\.x\.npy: uint8 \(1, 4\), expected uint8 \(3, 4\)"):
        read_meta(tmp_path / "s")
    meta_path.write_text("{not json")
    with pytest.raises(ShardError, match="not valid JSON"):
        read_meta(tmp_path / "s")
