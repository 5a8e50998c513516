"""``tbvar-train prepare`` on a hand-made genome and hand-checked peaks."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from tbvar.genome import encode_sequence
from tbvar_train.cli import main as train_main
from tbvar_train.prepare import PeakFileError, positive_bins, prepare_dataset, read_peaks
from tbvar_train.shards import load_split, read_meta

LENGTHS = {"chr1": 3000, "chr7": 4000, "chr8": 2000, "chr9": 1200}


@pytest.fixture()
def dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("TBVAR_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    seqs = {c: "".join(rng.choice(list("ACGTacgt"), size=n)) for c, n in LENGTHS.items()}
    fasta = tmp_path / "genome.fa"
    fasta.write_text("".join(f">{c}\n{s}\n" for c, s in seqs.items()))
    # Task 0 (plain BED, no "chr" prefix): hand-checked against 200-bp bins of chr1.
    (tmp_path / "t0.bed").write_text(
        "1\t499\t600\n"          # bin 2 [400,600): 101 bp -> positive
        "1\t1000\t1100\n"        # bin 5: 100 bp -> negative
        "1\t1150\t1301\n"        # bin 5: 50, bin 6: 101 -> bin 6 positive
        "1\t1400\t1460\n"        # bin 7: 60 bp ...
        "1\t1460\t1560\n"        # ... + 100 bp = 160 as a union, but no single peak > 100
        "1\t1700\t2350\n"        # bin 8: 100 (neg), 9 and 10 full, 11: 150 -> 9, 10, 11
        "1\t0\t200\n"            # bin 0 positive, but its window runs off the start
        "1\t2800\t3000\n"        # bin 14 positive, but its window runs off the end
        "7\t400\t3400\n"         # chr7 bins 2..16 (15 bins, all windows fit)
        "chrUn\t0\t500\n")       # not in the genome: ignored and counted
    # Task 1 (narrowPeak, gzip, with a track line).
    with gzip.open(tmp_path / "t1.narrowPeak.gz", "wt") as handle:
        handle.write('track type=narrowPeak name="t1"\n'
                     "chr1\t1000\t1101\t.\t0\t.\t5.0\t-1\t-1\t50\n"   # bin 5: 101 -> positive
                     "chr8\t800\t1000\t.\t0\t.\t5.0\t-1\t-1\t50\n")   # test bin 4
    table = tmp_path / "tasks.tsv"
    table.write_text("path\tcell_type\ttarget\ttreatment\n"
                     "t0.bed\tK562\tCTCF\tNone\n"
                     "t1.narrowPeak.gz\tHepG2\tFOXA1\t\n")
    return tmp_path, seqs


def window(seqs, contig, k):
    return encode_sequence(seqs[contig][k * 200 - 400:(k + 1) * 200 + 400])


def test_labels_at_half_boundary_flanks_and_splits(dataset):
    root, seqs = dataset
    counts = prepare_dataset(root / "genome.fa", root / "tasks.tsv", root / "out", valid_size=5,
                             seed=3)
    assert counts == {"bins": 15 + 20 + 10 + 6, "kept": 6 + 15 + 1, "edge_dropped": 2,
                      "peaks_on_unknown_contigs": 1,
                      "splits": {"train": 6 + 10, "valid": 5, "test": 1}}
    meta = read_meta(root / "out")
    assert meta["sequence_length"] == 1000 and meta["train_rc_augment"] is True
    assert [t["target"] for t in meta["tasks"]] == ["CTCF", "FOXA1"]
    assert meta["tasks"][1]["treatment"] == "None"
    x_train, y_train = load_split(root / "out", "train")
    chr1_bins = [2, 5, 6, 9, 10, 11]
    np.testing.assert_array_equal(y_train[:6], [[1, 0], [0, 1], [1, 0], [1, 0], [1, 0], [1, 0]])
    for row, k in enumerate(chr1_bins):
        np.testing.assert_array_equal(x_train[row], window(seqs, "chr1", k))
    # chr7: bins 2..16, five of them drawn for validation, the other ten train.
    chr7 = {window(seqs, "chr7", k).tobytes(): k for k in range(2, 17)}
    x_valid, y_valid = load_split(root / "out", "valid")
    valid_bins = [chr7[row.tobytes()] for row in x_valid]
    train_bins = [chr7[row.tobytes()] for row in x_train[6:]]
    assert sorted(valid_bins + train_bins) == list(range(2, 17))
    assert valid_bins == sorted(valid_bins) and train_bins == sorted(train_bins)
    assert (y_valid == [1, 0]).all() and (y_train[6:] == [1, 0]).all()
    x_test, y_test = load_split(root / "out", "test")
    np.testing.assert_array_equal(x_test, [window(seqs, "chr8", 4)])
    np.testing.assert_array_equal(y_test, [[0, 1]])
    # Seeded: same seed, same validation sample; the provenance records the inputs.
    prepare_dataset(root / "genome.fa", root / "tasks.tsv", root / "again", valid_size=5,
                    seed=3, hash_inputs=False)
    np.testing.assert_array_equal(load_split(root / "again", "valid")[0], x_valid)
    assert len(meta["provenance"]["peaks"]) == 2 and "sha256" in meta["provenance"]["genome"]


def brute_force_positive(peaks: list[tuple[int, int]], n_bins: int, threshold: int) -> list[bool]:
    out = []
    for k in range(n_bins):
        lo, hi = k * 200, (k + 1) * 200
        out.append(any(min(e, hi) - max(s, lo) >= threshold for s, e in peaks))
    return out


def test_positive_bins_matches_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(20):
        starts = rng.integers(0, 20_000, size=60)
        ends = starts + rng.integers(1, 700, size=60)
        expected = brute_force_positive(list(zip(starts, ends, strict=True)), 95, 101)
        np.testing.assert_array_equal(positive_bins(starts, ends, 95, 200, 101), expected)


def test_bad_peak_line_named(tmp_path):
    path = tmp_path / "p.bed"
    path.write_text("track x\nchr1\t10\t20\nchr1\t30\t25\n")
    with pytest.raises(PeakFileError, match=r"p\.bed: line 3: bad interval chr1:30-25"):
        read_peaks(path)


def test_cli_summary_and_errors(dataset, capsys):
    root, _ = dataset
    base = ["prepare", "--genome", str(root / "genome.fa"), "--peaks", str(root / "tasks.tsv")]
    assert train_main([*base, "--out", str(root / "o"), "--valid-size", "3"]) == 0
    err = capsys.readouterr().err
    assert "kept 22 of 51 200-bp bins" in err and "2 positive bins dropped" in err
    assert train_main([*base, "--out", str(root / "p"), "--valid-chrom", "chr5"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--valid-chrom 'chr5' is not a contig" in err
    (root / "bad.tsv").write_text("path\tcell_type\ttarget\nt0.bed\tK562\tCTCF\n")
    assert train_main(["prepare", "--genome", str(root / "genome.fa"), "--peaks",
                       str(root / "bad.tsv"), "--out", str(root / "q")]) == 1
    assert "bad.tsv: peak table lacks column(s) treatment" in capsys.readouterr().err
    assert not (root / "p").exists() and not (root / "q").exists()
