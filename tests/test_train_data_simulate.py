"""``tbvar-train simulate``: planted motifs are where the site table says, labels follow them."""

from __future__ import annotations

import filecmp
import json

import numpy as np
import pandas as pd
import pysam
import pytest

from tbvar.genome import encode_sequence
from tbvar.meme import MotifFileError, find_motif, read_meme
from tbvar_train.cli import main as train_main
from tbvar_train.shards import load_split, read_meta
from tbvar_train.simgenome import EDGE, GenomeFiles, simulate_genome
from tbvar_train.simulate import (
    default_tasks,
    labels_from_sites,
    simulate_dataset,
    simulate_sequences,
)

MOTIFS = read_meme()
BY_ID = {m.id: m for m in MOTIFS}


def site_codes(genome: pysam.FastaFile, row) -> np.ndarray:
    codes = encode_sequence(genome.fetch(row.contig, row.start, row.end))
    return 3 - codes[::-1] if row.strand == "-" else codes


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "data"
    simulate_dataset(out, n_tasks=5, n_grammar=1, n_train=300, n_valid=40, n_test=120,
                     genome_seqs=100, seed=11)
    return out


def test_meme_parser_reorders_to_agct():
    assert len(MOTIFS) == 879
    runx1 = find_motif(MOTIFS, "MA0002.3")
    # MEME row 1 is A C G T = 0.0615 0.536 0.0745 0.328; tbvar order is A G C T.
    np.testing.assert_allclose(runx1.probs[0], [0.0615, 0.0745, 0.536, 0.328], atol=1e-6)
    ctcf = find_motif(MOTIFS, "ctcf")
    assert (ctcf.id, ctcf.width) == ("MA0139.2", 15)
    assert decoded_consensus(ctcf) == "GCCACCAGGGGGCGC"  # the CTCF core CCACCAGGGGGCGC


def decoded_consensus(motif) -> str:
    return "".join("AGCT"[i] for i in motif.probs.argmax(axis=1))


def test_meme_parser_errors(tmp_path):
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\n\nMOTIF X1 x\nletter-probability matrix: alength= 4 w= 2\n"
                   "0.5 0.5 0 0\n0.9 0.9 0 0\n")
    with pytest.raises(MotifFileError, match=r"bad\.meme: line 6: motif X1"):
        read_meme(bad)
    bad.write_text("MEME version 4\nMOTIF X1\nletter-probability matrix: w= 3\n"
                   "0.25 0.25 0.25 0.25\n")
    with pytest.raises(MotifFileError, match="ends inside its matrix"):
        read_meme(bad)
    with pytest.raises(MotifFileError, match="'NOPE' not found"):
        find_motif(MOTIFS, "NOPE")


def test_sites_hold_motif_instances_and_genome_matches_shards(sim):
    meta = read_meta(sim)
    assert meta["splits"] == {"train": 300, "valid": 40, "test": 120}
    assert meta["train_rc_augment"] is True
    assert [t["target"] for t in meta["tasks"]] == ["CTCF", "REST", "ZNF143", "ESR1",
                                                     "SRF+ELK1"]
    sites = pd.read_csv(sim / "motif_sites.tsv", sep="\t")
    genome = pysam.FastaFile(str(sim / "genome.fa"))
    assert list(genome.references) == [f"seq{i}" for i in range(100)]
    x_test, _ = load_split(sim, "test")
    for i in (0, 57, 99):  # contig = 500 bp background + test sequence i + 500 bp background
        assert genome.get_reference_length(f"seq{i}") == 2000
        np.testing.assert_array_equal(encode_sequence(genome.fetch(f"seq{i}", 500, 1500)),
                                      x_test[i])
    check_site_instances(genome, sites)
    assert len(sites) > 100


def check_site_instances(genome: pysam.FastaFile, sites: pd.DataFrame) -> None:
    """Every site holds an instance of its motif, on its strand."""
    rng = np.random.default_rng(0)
    planted, shuffled = [], []
    for row in sites.itertuples(index=False):
        motif = BY_ID[row.motif_id]
        assert row.end - row.start == motif.width
        codes = site_codes(genome, row)
        planted.append(motif.log_odds(codes) / motif.information().sum())
        shuffled.append(motif.log_odds(rng.permutation(codes)) / motif.information().sum())
    planted, shuffled = np.array(planted), np.array(shuffled)
    # Sampled instances score near the motif's information content; their own bases
    # shuffled (same composition, motif order destroyed) score far lower.
    assert planted.min() > 0 and planted.mean() > 0.8
    assert shuffled.mean() < 0.1


def test_labels_match_planted_sites(sim):
    """Labels recomputed from motif_sites.tsv with plain loops (independent of the code)."""
    meta = read_meta(sim)
    sites = pd.read_csv(sim / "motif_sites.tsv", sep="\t")
    _, y = load_split(sim, "test")
    expected = np.zeros((100, meta["n_tasks"]), dtype=np.uint8)
    by_contig = {c: g for c, g in sites.groupby("contig")}
    for i in range(100):
        group = by_contig.get(f"seq{i}", sites.iloc[:0])
        for row in group.itertuples(index=False):
            if row.role == "motif":
                expected[i, row.task] = 1
        anchors = [r for r in group.itertuples(index=False) if r.motif_name == "SRF"]
        partners = [r for r in group.itertuples(index=False) if r.motif_name == "ELK1"]
        for a in anchors:
            for p in partners:
                gap = p.start - a.end if a.strand == "+" else a.start - p.end
                if a.strand == p.strand and 2 <= gap <= 10:
                    expected[i, 4] = 1
    np.testing.assert_array_equal(y[:100], expected)
    # Planted with probability 0.3 each; decoys make the grammar task's motifs present
    # more often than it is positive.
    assert 0.15 < y.mean() < 0.45
    srf_present = [f"seq{i}" in set(sites.loc[sites.motif_name == "SRF", "contig"])
                   for i in range(100)]
    assert sum(srf_present) > expected[:, 4].sum() + 5


def test_labels_from_sites_on_training_chunk():
    tasks = default_tasks(MOTIFS, 3, 1, gap=(0, 4))
    x, sites = simulate_sequences(tasks, 200, 600, np.random.default_rng(5), p_motif=0.5)
    y = labels_from_sites(tasks, sites, 200)
    for seq in (0, 1, 2, 3):
        own = sites[sites.seq == seq]
        for row in own.itertuples(index=False):
            codes = x[seq, row.start:row.end]
            codes = 3 - codes[::-1] if row.strand == "-" else codes
            motif = BY_ID[row.motif_id]
            assert motif.log_odds(codes) > 0.2 * motif.information().sum()
        for j in (0, 1):
            assert y[seq, j] == int(((own.task == j) & (own.role == "motif")).any())
    pair = sites[sites.role.isin(["anchor", "partner"])]
    assert (y[pair.seq.unique(), 2] == 1).all()
    starts = sites.sort_values(["seq", "start"])
    overlaps = (starts.groupby("seq")["start"].shift(-1) < starts["end"]).sum()
    assert overlaps == 0


def test_deterministic_with_seed(sim, tmp_path):
    again = tmp_path / "again"
    simulate_dataset(again, n_tasks=5, n_grammar=1, n_train=300, n_valid=40, n_test=120,
                     genome_seqs=100, seed=11)
    for name in ("train.x.npy", "train.y.npy", "test.x.npy", "valid.y.npy", "genome.fa",
                 "motif_sites.tsv", "variants.vcf", "variants_truth.tsv"):
        assert filecmp.cmp(sim / name, again / name, shallow=False), name
    other = tmp_path / "other"
    simulate_dataset(other, n_tasks=5, n_grammar=1, n_train=300, n_valid=40, n_test=120,
                     genome_seqs=100, seed=12)
    assert not filecmp.cmp(sim / "train.x.npy", other / "train.x.npy", shallow=False)


def dataset_files(directory) -> GenomeFiles:
    """The genome, sites and variant files of a ``simulate`` dataset."""
    return GenomeFiles(directory / "genome.fa", directory / "motif_sites.tsv",
                       directory / "variants.vcf", directory / "variants_truth.tsv",
                       directory / "meta.json")


def check_variants(files: GenomeFiles, width: int, region=(500, 1500)) -> np.ndarray:
    """Checks every variant against the genome and the sites; returns the log-odds drops.

    Controls must lie in ``region`` of their contig (inside the simulated sequence).
    """
    truth = pd.read_csv(files.truth, sep="\t")
    genome = pysam.FastaFile(str(files.genome))
    sites = pd.read_csv(files.sites, sep="\t")
    destroy = truth[truth.destroys_motif == 1]
    control = truth[truth.destroys_motif == 0]
    assert len(destroy) == len(sites[sites.role.isin(["motif", "anchor", "partner"])])
    assert len(control) == len(destroy)
    drops = []
    for row in destroy.itertuples(index=False):
        start = row.pos - 1
        assert row.site_start <= start and start + width <= row.site_end
        assert genome.fetch(row.contig, start, start + width) == row.ref
        assert len(row.alt) == width and all(a != b for a, b in zip(row.ref, row.alt, strict=True))
        motif = BY_ID[row.motif_id]
        site = genome.fetch(row.contig, row.site_start, row.site_end)
        k = start - row.site_start
        before = encode_sequence(site)
        after = encode_sequence(site[:k] + row.alt + site[k + width:])
        if row.strand == "-":
            before, after = 3 - before[::-1], 3 - after[::-1]
        drops.append(motif.log_odds(before) - motif.log_odds(after))
    for row in control.itertuples(index=False):
        start = row.pos - 1
        assert genome.fetch(row.contig, start, start + width) == row.ref
        assert len(row.alt) == width and all(a != b for a, b in zip(row.ref, row.alt, strict=True))
        assert region[0] <= start and start + width <= region[1]
        same = sites[sites.contig == row.contig]
        if same.empty:
            assert row.distance_to_site == -1
            continue
        gaps = np.minimum(np.maximum(same.start - start, start - (same.end - 1)),
                          np.maximum(same.start - (start + width - 1),
                                     (start + width - 1) - (same.end - 1)))
        assert gaps.min() >= 100 and row.distance_to_site == gaps.min()
    with pysam.VariantFile(str(files.variants)) as vcf:
        records = [(r.chrom, r.pos, r.id, r.ref, r.alts[0]) for r in vcf]
    assert records == list(truth[["contig", "pos", "id", "ref", "alt"]].itertuples(
        index=False, name=None))
    return np.array(drops)


def test_snvs_destroy_sites_and_controls_are_far(sim):
    # the most informative position, set to an unlikely base
    assert check_variants(dataset_files(sim), 1).min() > 3.0


def test_block_variants_destroy_more(tmp_path):
    out = tmp_path / "d"
    simulate_dataset(out, n_tasks=5, n_grammar=1, n_train=1, n_valid=1, n_test=60,
                     seed=4, destroy_width=5)
    drops = check_variants(dataset_files(out), 5)
    assert drops.min() > 10.0 and len(drops) > 50


def test_cli_simulate_and_errors(tmp_path, capsys):
    out = tmp_path / "s"
    assert train_main(["simulate", "--out", str(out), "--n-tasks", "3", "--n-grammar", "0",
                       "--n-train", "20", "--n-valid", "5", "--n-test", "5",
                       "--motif-names", "CTCF,MA0138.3,Spi1", "--no-variants"]) == 0
    assert [t["target"] for t in read_meta(out)["tasks"]] == ["CTCF", "REST", "Spi1"]
    assert not (out / "variants.vcf").exists() and (out / "genome.fa.fai").exists()
    capsys.readouterr()
    assert train_main(["simulate", "--out", str(tmp_path / "t"), "--gap", "5"]) == 1
    assert "--gap '5': expected MIN,MAX" in capsys.readouterr().err
    assert train_main(["simulate", "--out", str(tmp_path / "t"), "--n-tasks", "2",
                       "--n-grammar", "0", "--motif-names", "CTCF,NOPE"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'NOPE' not found" in err
    assert not (tmp_path / "t").exists()


def test_planted_truth_is_recoverable_by_a_pwm_scan(tmp_path):
    """Chance matches are rare: scanning each motif task's own PWM separates the classes."""
    from sklearn.metrics import roc_auc_score

    out = tmp_path / "d"
    simulate_dataset(out, n_tasks=4, n_grammar=0, n_train=1, n_valid=1, n_test=400,
                     genome_seqs=0, seed=2)
    x, y = load_split(out, "test")
    x = np.asarray(x)
    for j, task in enumerate(default_tasks(MOTIFS, 4, 0)):
        width = task.motif.width
        windows = x[:, np.arange(1000 - width + 1)[:, None] + np.arange(width)]
        best = np.maximum(task.motif.log_odds(windows),
                          task.motif.log_odds(3 - windows[..., ::-1])).max(axis=1)
        assert roc_auc_score(y[:, j], best) > 0.95, task.target


def test_short_sequences_plant_what_fits():
    tasks = default_tasks(MOTIFS, 6, 1)  # 5 motifs + pair + 2 decoys = 8 elements
    x, sites = simulate_sequences(tasks, 300, 120, np.random.default_rng(1), p_motif=0.6)
    per_seq = sites[sites.role != "partner"].groupby("seq").size()  # a pair fills one slot
    assert per_seq.max() == 120 // 35  # slots as wide as SRF (16) + max gap (10) + ELK1 (9)
    y = labels_from_sites(tasks, sites, 300)
    for seq in range(20):
        own = sites[sites.seq == seq]
        for j in range(5):
            assert y[seq, j] == int((own.task == j).any())
        assert ((own.start >= 0) & (own.end <= 120)).all()
    with pytest.raises(ValueError, match="shorter than the widest motif element"):
        simulate_sequences(tasks, 2, 30, np.random.default_rng(1))


@pytest.fixture(scope="module")
def sparse(tmp_path_factory) -> GenomeFiles:
    """A sparse-site genome of the example model's motifs: 4 contigs of 50 kb."""
    return simulate_genome(tmp_path_factory.mktemp("sparse") / "genome", n_contigs=4,
                           contig_length=50_000, seed=0)


def test_sparse_genome_sites_are_sparse_motif_instances(sparse):
    meta = json.loads(sparse.meta.read_text())
    assert [t["target"] for t in meta["tasks"]] == ["CTCF", "REST", "ZNF143", "ESR1"]
    sites = pd.read_csv(sparse.sites, sep="\t")
    genome = pysam.FastaFile(str(sparse.genome))
    assert list(genome.references) == ["sim1", "sim2", "sim3", "sim4"]
    assert set(genome.lengths) == {50_000}
    widths = sites.end - sites.start
    assert meta["sites"] == len(sites) and meta["site_bases"] == widths.sum()
    assert meta["site_fraction"] == widths.sum() / 200_000
    assert 0.005 < meta["site_fraction"] <= 0.01  # default site_density 0.01
    # one site of every motif per segment: equal counts, either strand, no overlaps
    per_task = sites.groupby("task").size()
    assert per_task.index.tolist() == [0, 1, 2, 3] and per_task.nunique() == 1
    assert set(sites.strand) == {"+", "-"} and (sites.role == "motif").all()
    following = sites.groupby("contig")["start"].shift(-1)
    assert (following.isna() | (following >= sites.end)).all()
    assert sites.start.min() >= EDGE and sites.end.max() <= 50_000 - EDGE
    check_site_instances(genome, sites)


def test_sparse_genome_variants(sparse):
    drops = check_variants(sparse, 1, region=(EDGE, 50_000 - EDGE))
    assert len(drops) == json.loads(sparse.meta.read_text())["sites"]
    # Nearly every sampled site has the consensus base at the motif's most informative
    # position (p >= 0.988 for these motifs); the SNV puts a base of p ~ 0.001 there.
    assert (drops > 8).mean() > 0.95


def test_example_model_separates_destroying_snvs_in_sparse_genome(sparse, tmp_path, capsys):
    """``tbvar score`` with the bundled model: |lod| of the site's task, destroying vs control."""
    from sklearn.metrics import roc_auc_score

    from tbvar.checkpoint import read_model_info
    from tbvar.cli import main as score_main
    from tbvar.tasks import task_labels

    from .conftest import EXAMPLES

    model = EXAMPLES / "model.safetensors"
    labels = task_labels(read_model_info(model).tasks)
    meta = json.loads(sparse.meta.read_text())
    assert task_labels(pd.DataFrame(meta["tasks"])) == labels
    out = tmp_path / "scored.tsv"
    assert score_main(["score", str(sparse.variants), "--genome", str(sparse.genome),
                       "--model", str(model), "-o", str(out), "--device", "cpu"]) == 0
    capsys.readouterr()
    scored = pd.read_csv(out, sep="\t").merge(pd.read_csv(sparse.truth, sep="\t"), on="id",
                                              validate="one_to_one")
    assert (scored.status == "ok").all() and len(scored) > 200
    control = scored[scored.destroys_motif == 0]
    for j, label in enumerate(labels):
        destroy = scored[scored.task == j]
        auroc = roc_auc_score(np.r_[np.ones(len(destroy)), np.zeros(len(control))],
                              np.abs(np.r_[destroy[f"lod.{label}"], control[f"lod.{label}"]]))
        assert auroc > 0.95, (label, auroc)


def test_simulate_genome_cli_is_deterministic_and_checks_options(sparse, tmp_path, capsys):
    out = tmp_path / "g"
    args = ["simulate-genome", "--out", str(out), "--contigs", "4", "--contig-length", "50000"]
    assert train_main(args) == 0
    assert "112 sites (0.92% of 200000 bp), 112 destroying + 112 control" in (
        capsys.readouterr().err)
    for name in ("genome.fa", "sites.tsv", "variants.vcf", "truth.tsv"):
        assert filecmp.cmp(out / name, sparse.genome.parent / name, shallow=False), name
    assert train_main(args) == 1
    assert "already exists" in capsys.readouterr().err
    assert train_main([*args, "--overwrite", "--seed", "1", "--site-density", "0.02"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert 0.015 < meta["site_fraction"] <= 0.02 and meta["parameters"]["seed"] == 1
    assert not filecmp.cmp(out / "genome.fa", sparse.genome, shallow=False)
    for bad, message in ((["--site-density", "0.9"], "site_density 0.9 is too high"),
                         (["--site-density", "0.3"], "only 61 of 3488 control variants fit"),
                         (["--contig-length", "5000"], "contig_length 5000 is too short")):
        assert train_main([*args, "--overwrite", *bad]) == 1
        assert message in capsys.readouterr().err
