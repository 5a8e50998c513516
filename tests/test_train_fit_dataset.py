"""Shard reader, block-shuffled sampling, RC augmentation, prefetch and rank sharding."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from tbvar_train.dataset import ShardLoader, ShardSplit, block_shuffled_order
from tbvar_train.shards import ShardError
from tests.train_fit_data import write_shards

COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)  # A↔T, G↔C in A,G,C,T codes


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards"), n_train=53, n_valid=21, n_test=10,
                        length=20)


def test_split_is_memory_mapped_with_meta(shards):
    split = ShardSplit(shards, "train")
    assert isinstance(split.x, np.memmap) and split.x.shape == (53, 20)
    assert split.y.shape == (53, 3) and split.rc_augment and split.n_virtual == 106
    assert not ShardSplit(shards, "valid").rc_augment
    assert split.tasks["target"].tolist() == ["motif0", "motif1", "motif2"]


def test_bad_shards_are_reported_with_the_file(tmp_path, shards):
    with pytest.raises(ShardError, match="meta.json: missing"):
        ShardSplit(tmp_path, "train")
    bad = write_shards(tmp_path / "bad", n_train=5, n_valid=5, n_test=5, length=20)
    np.save(bad / "valid.y.npy", np.zeros((5, 2), np.uint8))
    with pytest.raises(ShardError, match=r"valid\.y\.npy: uint8 \(5, 2\), expected"):
        ShardSplit(bad, "valid")
    np.save(bad / "valid.y.npy", np.zeros((5, 3), np.uint8))
    np.save(bad / "test.x.npy", np.zeros((5, 20), np.int64))
    with pytest.raises(ShardError, match=r"test\.x\.npy: int64"):
        ShardSplit(bad, "test")
    meta = json.loads((bad / "meta.json").read_text())
    (bad / "meta.json").write_text(json.dumps(dict(meta, version=7)))
    with pytest.raises(ShardError, match="version 7"):
        ShardSplit(bad, "train")


def test_block_shuffled_order_is_a_local_permutation():
    n, block, blocks_per_buffer = 1000, 16, 4
    order = block_shuffled_order(n, seed=3, epoch=0, block_size=block,
                                 buffer_blocks=blocks_per_buffer)
    assert np.array_equal(np.sort(order), np.arange(n))
    assert not np.array_equal(order, np.arange(n))
    assert np.array_equal(order, block_shuffled_order(n, 3, 0, block, blocks_per_buffer))
    assert not np.array_equal(order, block_shuffled_order(n, 3, 1, block, blocks_per_buffer))
    buffer = block * blocks_per_buffer
    for start in range(0, n - n % buffer - buffer + 1, buffer):  # skip the ragged tail
        segment = order[start:start + buffer]
        ids, counts = np.unique(segment // block, return_counts=True)
        assert len(ids) == blocks_per_buffer and set(counts) == {block}  # whole blocks


def _epoch(loader: ShardLoader, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    batches = list(loader.iterate(**kwargs))
    return (np.concatenate([b.x.numpy() for b in batches]),
            np.concatenate([b.y.numpy() for b in batches]))


def test_rc_augmentation_visits_each_sample_forward_and_reverse(shards):
    split = ShardSplit(shards, "train")
    loader = ShardLoader(split, 8, shuffle=True, seed=1, block_size=4, buffer_blocks=2)
    x, y = _epoch(loader)
    assert len(x) == 106 and x.dtype == np.uint8 and y.dtype == np.float32
    virtual = loader.indices()
    rows = virtual % 53
    expected = np.where((virtual >= 53)[:, None], COMPLEMENT[split.x[rows]][:, ::-1],
                        split.x[rows])
    assert np.array_equal(x, expected)
    assert np.array_equal(y, split.y[rows])
    assert np.array_equal(np.sort(virtual), np.arange(106))


def test_prefetch_and_resume_offsets_give_the_same_batches(shards):
    split = ShardSplit(shards, "train")
    loader = ShardLoader(split, 10, shuffle=True, seed=5, prefetch=2)
    loader.set_epoch(4)
    reference = _epoch(loader)
    direct = ShardLoader(split, 10, shuffle=True, seed=5, prefetch=0)
    direct.set_epoch(4)
    assert all(np.array_equal(a, b) for a, b in zip(reference, _epoch(direct), strict=True))
    tail = _epoch(loader, start=3)
    assert np.array_equal(tail[0], reference[0][30:])
    assert len(loader) == 11


def test_ranks_split_the_epoch(shards):
    split = ShardSplit(shards, "train")
    ranks = [ShardLoader(split, 7, shuffle=True, seed=2, rank=r, world_size=3) for r in range(3)]
    parts = [loader.indices() for loader in ranks]
    assert {len(p) for p in parts} == {36} and {len(loader) for loader in ranks} == {6}
    assert set(np.concatenate(parts)) == set(range(106))  # 108 = 106 + 2 wrapped repeats
    valid = ShardSplit(shards, "valid")
    pieces = [ShardLoader(valid, 4, shuffle=False, rank=r, world_size=2).indices()
              for r in range(2)]
    assert np.array_equal(np.concatenate(pieces), np.arange(21))  # contiguous, no padding


def test_abandoned_iteration_stops_the_prefetch_thread(shards):
    loader = ShardLoader(ShardSplit(shards, "train"), 2, shuffle=True, prefetch=1)
    before = threading.active_count()
    iterator = loader.iterate()
    next(iterator)
    iterator.close()
    assert threading.active_count() == before
