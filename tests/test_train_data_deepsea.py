"""DeepSEA bundle readers: tiny .mat files in exactly DeepSEA's layout, made here."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io

from tbvar_train.cli import main as train_main
from tbvar_train.deepsea import DeepSEAFormatError, convert_deepsea, onehot_to_codes
from tbvar_train.shards import load_split, read_meta

L = 1000
# Hand-written one-hot columns in DeepSEA's channel order A, G, C, T (N = all zeros).
HAND_ONEHOT = {"A": (1, 0, 0, 0), "G": (0, 1, 0, 0), "C": (0, 0, 1, 0), "T": (0, 0, 0, 1),
               "N": (0, 0, 0, 0)}
COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}
CODE = {"A": 0, "G": 1, "C": 2, "T": 3, "N": 4}


def random_seqs(rng: np.random.Generator, n: int, prefix: str = "") -> list[str]:
    seqs = []
    for _ in range(n):
        body = "".join(rng.choice(list("ACGTN"), p=[0.24, 0.24, 0.24, 0.24, 0.04],
                                  size=L - len(prefix)))
        seqs.append(prefix + body)
    return seqs


def onehot_matlab(seqs: list[str]) -> np.ndarray:
    """MATLAB-side array X(n, channel, position), built column by column from the table."""
    out = np.zeros((len(seqs), 4, L), dtype=np.uint8)
    for n, seq in enumerate(seqs):
        for pos, base in enumerate(seq):
            out[n, :, pos] = HAND_ONEHOT[base]
    return out


def rc(seq: str) -> str:
    return "".join(COMPLEMENT[b] for b in reversed(seq))


def labels(n: int, offset: int) -> np.ndarray:
    rows = np.arange(n)[:, None]
    cols = np.arange(919)[None, :]
    return ((rows * 7 + cols * 3 + offset) % 5 == 0).astype(np.uint8)


def make_bundle(root, rng, n_train=10, n_valid=3, n_test=4, break_rc=False):
    bundle = root / "deepsea_train"
    bundle.mkdir(parents=True)
    train_seqs = random_seqs(rng, n_train, prefix="AGCTN")
    y_train = labels(n_train, 0)
    # MATLAB v7.3 = HDF5 with a 512-byte user block; MATLAB's (N, 4, L) array is stored
    # with reversed dimensions, i.e. HDF5 shape (L, 4, N); (N, 919) becomes (919, N).
    with h5py.File(bundle / "train.mat", "w", userblock_size=512) as h5:
        h5.create_dataset("trainxdata", data=onehot_matlab(train_seqs).transpose(2, 1, 0))
        h5.create_dataset("traindata", data=y_train.T)
    truth = {"train": (train_seqs, y_train)}
    for split, n in (("valid", n_valid), ("test", n_test)):
        fwd = random_seqs(rng, n)
        rev = [rc(s) for s in fwd]
        if break_rc and split == "test":
            rev[1] = fwd[1]
        y = labels(n, 1 if split == "valid" else 2)
        scipy.io.savemat(bundle / f"{split}.mat",
                         {f"{split}xdata": onehot_matlab(fwd + rev),
                          f"{split}data": np.concatenate([y, y])})
        truth[split] = (fwd, y)
    return bundle, truth


def codes_of(seqs: list[str]) -> np.ndarray:
    return np.array([[CODE[b] for b in s] for s in seqs], dtype=np.uint8)


@pytest.mark.parametrize("all_919", [False, True])
def test_convert_bundle_shapes_order_and_labels(tmp_path, all_919):
    bundle, truth = make_bundle(tmp_path, np.random.default_rng(1))
    out = tmp_path / "shards"
    convert_deepsea(tmp_path, out, all_919=all_919, chunk=4, progress=False)
    meta = read_meta(out)
    cols = slice(0, 919) if all_919 else slice(125, 815)
    assert meta["splits"] == {"train": 10, "valid": 3, "test": 4}
    assert meta["n_tasks"] == (919 if all_919 else 690)
    assert meta["sequence_length"] == L
    assert meta["train_rc_augment"] is False
    assert meta["tasks"][0]["index"] == (0 if all_919 else 125)
    assert meta["tasks"][-1]["index"] == (918 if all_919 else 814)
    assert set(meta["provenance"]["files"]) == {"train.mat", "valid.mat", "test.mat"}
    for split, (seqs, y) in truth.items():
        x_out, y_out = load_split(out, split)
        np.testing.assert_array_equal(x_out, codes_of(seqs))
        np.testing.assert_array_equal(y_out, y[:, cols])
    x_train, _ = load_split(out, "train")
    np.testing.assert_array_equal(x_train[:, :5], np.tile([0, 1, 2, 3, 4], (10, 1)))


def test_label_column_125_is_first_tbinet_task(tmp_path):
    bundle, _ = make_bundle(tmp_path, np.random.default_rng(2), n_train=3)
    with h5py.File(bundle / "train.mat", "r+") as h5:
        y = np.zeros((919, 3), dtype=np.uint8)
        y[125, 0] = 1
        y[814, 1] = 1
        y[124, 2] = y[815, 2] = 1
        h5["traindata"][...] = y
    convert_deepsea(bundle, tmp_path / "s", progress=False, hash_inputs=False)
    _, y_out = load_split(tmp_path / "s", "train")
    expected = np.zeros((3, 690), dtype=np.uint8)
    expected[0, 0] = expected[1, 689] = 1
    np.testing.assert_array_equal(y_out, expected)


def test_second_half_not_reverse_complement_is_rejected(tmp_path):
    make_bundle(tmp_path, np.random.default_rng(3), break_rc=True)
    with pytest.raises(DeepSEAFormatError, match=r"test\.mat: sample 5 is not the reverse"):
        convert_deepsea(tmp_path, tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()


def test_onehot_to_codes_rejects_two_bases():
    onehot = np.zeros((4, 3), dtype=np.uint8)
    onehot[0, 1] = onehot[2, 1] = 1
    with pytest.raises(DeepSEAFormatError, match="more than one base"):
        onehot_to_codes(onehot, 0, "x")


def test_cli_convert_and_missing_bundle(tmp_path, capsys):
    make_bundle(tmp_path, np.random.default_rng(4), n_train=2, n_valid=1, n_test=1)
    assert train_main(["convert-deepsea", "--bundle", str(tmp_path), "--out",
                       str(tmp_path / "s")]) == 0
    assert read_meta(tmp_path / "s")["splits"] == {"train": 2, "valid": 1, "test": 1}
    assert train_main(["convert-deepsea", "--bundle", str(tmp_path), "--out",
                       str(tmp_path / "s")]) == 1
    assert "already exists" in capsys.readouterr().err
    assert train_main(["convert-deepsea", "--bundle", str(tmp_path / "nope"), "--out",
                       str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope: no train.mat" in err


def test_truncated_hdf5_shapes_rejected(tmp_path):
    bundle, _ = make_bundle(tmp_path, np.random.default_rng(5), n_train=2)
    with h5py.File(bundle / "train.mat", "r+") as h5:
        del h5["traindata"]
        h5.create_dataset("traindata", data=np.zeros((919, 3), dtype=np.uint8))
    with pytest.raises(DeepSEAFormatError, match="trainxdata"):
        convert_deepsea(bundle, tmp_path / "s", progress=False)
