"""tbvar motifs: kernel sites and matrices, MEME round trip, TOMTOM matches, planted-motif
recovery by the example model, distinct motifs by edit distance, logos, refusals."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from memelite.io import read_meme as memelite_read_meme

from tbvar.checkpoint import ModelInfo, save_model
from tbvar.cli import main
from tbvar.distinct_motifs import distinct_counts, edit_distance
from tbvar.genome import Genome, decode_sequence, encode_sequence
from tbvar.kernel_sites import count_kernel_sites, first_layer, max_activation
from tbvar.meme import MEME_TO_CODES, Motif, find_motif, meme_text, read_meme
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.motif_inputs import tile_regions, window_batches
from tbvar.motif_match import informative_core, tomtom_matches
from tbvar.motifs import kernel_motifs
from tbvar.plot_logos import DPI, HEIGHT, figure_width, logo_pair
from tbvar.random_snvs import sample_windows
from tbvar.tasks import generic_tasks
from tbvar_train.simulate import default_tasks, simulate_sequences, write_fasta

from .conftest import EXAMPLE_GENOME, REPO

EXAMPLE_MODEL = REPO / "examples" / "model.safetensors"
JASPAR = read_meme()
PLANTED = ("CTCF", "REST", "ZNF143", "ESR1")  # the example model's tasks (examples/README.md)


def tiny_model(width: int, length: int = 40, n_kernels: int = 2) -> TBiNet:
    """A TBiNet whose kernels the tests set by hand (all weights zero to begin with)."""
    model = TBiNet(TBiNetConfig(sequence_length=length, n_kernels=n_kernels, kernel_width=width,
                                pool_size=2, lstm_units=2, dense_units=2, n_tasks=1))
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
    return model.eval()


def set_kernel(model: TBiNet, k: int, weight: np.ndarray, bias: float) -> None:
    """Kernel ``k`` := ``weight`` ``(width, 4)`` in A, G, C, T order, and its bias."""
    with torch.no_grad():
        model.conv.weight[k] = torch.as_tensor(weight.T, dtype=torch.float32)
        model.conv.bias[k] = bias


def save(model: torch.nn.Module, path: Path) -> Path:
    save_model(model, path, ModelInfo(config=model.config, tasks=generic_tasks(
        model.config.n_tasks), description="test model", random_weights=True))
    return path


def no_staging_left(parent: Path) -> bool:
    return not any(p.name.startswith(".") for p in parent.iterdir())


# --- sites and matrices ------------------------------------------------------------------


def test_kernel_matrix_is_the_hand_counted_sites() -> None:
    """Kernel 0 detects exactly GATC (+1 per matching base, bias -3.5: > 0 only on all four);
    kernel 1 scores 0.5 wherever an A starts the window, so every sequence's site is the
    window at its first A (ties take the first position)."""
    length, width = 40, 4
    model = tiny_model(width, length)
    set_kernel(model, 0, np.eye(4)[encode_sequence("GATC")], -3.5)
    set_kernel(model, 1, np.eye(4)[[0]] * np.eye(width)[:, [0]], -0.5)
    rng = np.random.default_rng(3)
    codes = rng.choice([1, 2, 3], size=(60, length)).astype(np.uint8)  # G, C, T: no A, no GATC
    planted = rng.integers(0, length - width + 1, size=30)
    codes[np.arange(30)[:, None], planted[:, None] + np.arange(width)] = encode_sequence("GATC")
    lone = rng.integers(0, length - 1, 20)
    codes[30:50, lone] = 0  # lone A's in sequences 30..49, each followed by a C: no GATC
    codes[30:50, lone + 1] = 2
    codes[35, 12:14] = [0, 4]  # an N right after an A (a kernel-1 site at 12 if it is first)
    value, start = max_activation(model.conv.weight, model.conv.bias, torch.from_numpy(codes))
    np.testing.assert_array_equal(start[:30, 0].numpy(), planted)
    assert (value[:30, 0] == 0.5).all() and (value[30:, 0] < 0).all()

    counts = count_kernel_sites(model, [codes[:25], codes[25:]], device="cpu")
    assert counts.n_sequences == 60
    assert counts.n_sites[0] == 30
    np.testing.assert_array_equal(counts.counts[0], 30 * np.eye(4)[encode_sequence("GATC")])
    expected = np.zeros((width, 4), dtype=np.int64)
    n_sites = 0
    for row in codes:
        first_a = [p for p in range(length - width + 1) if row[p] == 0]
        if first_a:
            n_sites += 1
            for j, code in enumerate(row[first_a[0]:first_a[0] + width]):
                if code < 4:
                    expected[j, code] += 1
    assert counts.n_sites[1] == n_sites
    np.testing.assert_array_equal(counts.counts[1], expected)
    probs = counts.probabilities()
    np.testing.assert_allclose(probs[1], expected / expected.sum(axis=1, keepdims=True))
    assert counts.motifs()[0].consensus() == "GATC"


def test_kernel_without_sites_is_uniform() -> None:
    model = tiny_model(4)
    set_kernel(model, 0, np.zeros((4, 4)), -1.0)  # never > 0
    counts = count_kernel_sites(model, [np.zeros((3, 40), np.uint8)], device="cpu")
    assert counts.n_sites[0] == 0
    np.testing.assert_array_equal(counts.probabilities()[0], np.full((4, 4), 0.25))


def test_first_layer_of_each_architecture(tmp_path: Path) -> None:
    from tbvar.baselines import DanQ, DanQConfig, DeepSEA, DeepSEAConfig

    danq = DanQ(DanQConfig(sequence_length=60, n_kernels=3, kernel_width=5, pool_size=2,
                           lstm_units=2, dense_units=2, n_tasks=1))
    assert first_layer(danq) is danq.conv
    deepsea = DeepSEA(DeepSEAConfig(sequence_length=60, channels=(2, 2, 2), kernel_width=3,
                                    pool_size=2, dense_units=2, n_tasks=1))
    with pytest.raises(ValueError, match="'deepsea' has no one-hot convolution first layer"):
        first_layer(deepsea)


# --- MEME files ----------------------------------------------------------------------------


def test_meme_text_round_trips_through_memelite_and_tbvar(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    motifs = [Motif(f"kernel_{k}", "CONS", rng.dirichlet(np.ones(4), size=w), n_sites=10 * k)
              for k, w in enumerate((26, 8, 1))]
    path = tmp_path / "kernels.meme"
    path.write_text(meme_text(motifs), encoding="ascii")
    ours = read_meme(path)
    theirs = memelite_read_meme(str(path))
    assert list(theirs) == [m.label for m in motifs]
    for motif, back, columns in zip(motifs, ours, theirs.values(), strict=True):
        assert (back.id, back.name, back.n_sites) == (motif.id, motif.name, motif.n_sites)
        np.testing.assert_allclose(back.probs, motif.probs, atol=1e-6)
        # memelite: (4, w) in MEME's A, C, G, T order
        np.testing.assert_allclose(columns.T[:, MEME_TO_CODES], motif.probs, atol=1e-6)


def test_jaspar_round_trips() -> None:
    text = meme_text(JASPAR[:50])
    assert text.count("MOTIF ") == 50
    ctcf = find_motif(JASPAR, "MA0139.2")
    assert ctcf.n_sites == 913 and ctcf.consensus() == "GCCACCAGGGGGCGC"


# --- TOMTOM --------------------------------------------------------------------------------


def test_tomtom_finds_a_motif_by_its_part_with_offset_and_orientation() -> None:
    ctcf = find_motif(JASPAR, "MA0139.2")
    uniform = np.full((3, 4), 0.25)
    part = ctcf.probs[2:13]
    queries = [Motif("fwd", "", np.concatenate([uniform, part, uniform])),
               Motif("rev", "", np.concatenate([uniform, part[::-1, ::-1], uniform]))]
    cores = [informative_core(q, 0.5) for q in queries]
    assert cores == [slice(3, 14), slice(3, 14)]
    matches = tomtom_matches(queries, cores, JASPAR, 0.05)
    best = matches[matches["rank"] == 1].set_index("kernel")
    assert list(best["match_id"]) == ["MA0139.2", "MA0139.2"]
    # kernel column i aligns with motif column i + offset: kernel column 3 is CTCF column 2
    assert best.loc["fwd", "offset"] == -1 and best.loc["fwd", "orientation"] == "+"
    assert best.loc["rev", "offset"] == -1 and best.loc["rev", "orientation"] == "-"
    assert (matches["q"] < 0.05).all()
    np.testing.assert_allclose(matches["E"], matches["p"] * len(JASPAR))


def test_tomtom_leaves_torch_threads_alone() -> None:
    """memelite's numba (OpenMP layer) sets the OpenMP thread count torch also uses."""
    ctcf = find_motif(JASPAR, "MA0139.2")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        tomtom_matches([ctcf], [slice(0, ctcf.width)], JASPAR, 0.05)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_uninformative_matrices_have_no_core() -> None:
    rng = np.random.default_rng(1)
    noise = rng.multinomial(1000, [0.25] * 4, size=26) / 1000  # sampling noise of 1000 sites
    assert informative_core(Motif("k", "", noise), 0.5) is None
    assert informative_core(Motif("k", "", np.full((26, 4), 0.25)), 0.5) is None
    sparse = np.full((26, 4), 0.25)
    sparse[[2, 20]] = [0.9, 0.1 / 3, 0.1 / 3, 0.1 / 3]  # two strong columns 18 apart
    assert informative_core(Motif("k", "", sparse), 0.5) is None


# --- distinct motifs -----------------------------------------------------------------------


def naive_edit_distance(a: str, b: str) -> int:
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i, j in itertools.product(range(1, len(a) + 1), range(1, len(b) + 1)):
        table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1,
                          table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return table[-1][-1]


def test_edit_distance_matches_the_textbook_recurrence() -> None:
    rng = np.random.default_rng(2)
    for _ in range(300):
        a, b = ("".join(rng.choice(list("ACG"), size=rng.integers(0, 12))) for _ in range(2))
        assert edit_distance(a, b) == naive_edit_distance(a, b)
    assert edit_distance("kitten", "sitting") == 3


def test_distinct_counts_are_single_linkage_clusters() -> None:
    # AAAAAA-AAAAAT (1) and AAAAAT-AAAATT (1) chain; CCCCCC is 6 from all; GAAAAA 1 from AAAAAA
    consensus = ["AAAAAA", "AAAAAT", "AAAATT", "CCCCCC", "GAAAAA", "AAAAAA"]
    assert distinct_counts(consensus, (0, 1, 2, 6)) == {"0": 5, "1": 2, "2": 2, "6": 1}
    assert distinct_counts([]) == {"0": 0, "3": 0, "5": 0, "10": 0}


# --- inputs --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gapped_genome(tmp_path_factory: pytest.TempPathFactory) -> Genome:
    """Two contigs: a with N at 30..39, b shorter than two windows."""
    path = tmp_path_factory.mktemp("genome") / "g.fa"
    rng = np.random.default_rng(5)
    a = rng.integers(0, 4, 100).astype(np.uint8)
    a[30:40] = 4
    b = rng.integers(0, 4, 25).astype(np.uint8)
    path.write_text(f">a\n{decode_sequence(a)}\n>b\n{decode_sequence(b)}\n")
    return Genome(path, cache_dir=False)


def test_random_windows_avoid_n_and_contig_ends(gapped_genome: Genome) -> None:
    length = 20
    contigs, starts = sample_windows(gapped_genome, 20_000, length, seed=4)
    valid = {("a", s) for s in [*range(0, 11), *range(40, 81)]} | {("b", s) for s in range(6)}
    drawn = list(zip(contigs.tolist(), starts.tolist(), strict=True))
    assert set(drawn) == valid  # every valid window, nothing else
    counts = pd.Series(drawn).value_counts()
    assert counts.min() > 0.7 * 20_000 / len(valid)  # roughly uniform (expected ~294 each)
    windows = np.concatenate(list(window_batches(gapped_genome, contigs, starts, length, 999)))
    assert (windows != 4).all()
    again = sample_windows(gapped_genome, 20_000, length, seed=4)
    np.testing.assert_array_equal(again[1], starts)
    with pytest.raises(ValueError, match="no window of 90 bases without N"):
        sample_windows(gapped_genome, 5, 90)


def test_region_windows_tile_and_centre(gapped_genome: Genome) -> None:
    regions = {"a": np.array([[44, 50], [60, 101]]), "b": np.array([[0, 25]])}
    contigs, starts = tile_regions(regions, 20)
    assert contigs.tolist() == ["a", "a", "a", "a", "b", "b"]
    assert starts.tolist() == [37, 50, 70, 90, -8, 12]  # 6 bp -> 1 window; 41 -> 3; 25 -> 2
    windows = np.concatenate(list(window_batches(gapped_genome, contigs, starts, 20, 4)))
    codes = gapped_genome.codes("a")
    np.testing.assert_array_equal(windows[0], codes[37:57])
    np.testing.assert_array_equal(windows[3, :10], codes[90:100])
    assert (windows[3, 10:] == 4).all() and (windows[4, :8] == 4).all()


# --- the command on the example model -----------------------------------------------------


@pytest.fixture(scope="module")
def planted_fasta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 sequences of the example model's length with its motifs planted, as in its
    training data (tbvar-train simulate: p = 0.3 per motif and sequence)."""
    tasks = default_tasks(JASPAR, 4, 0, list(PLANTED))
    x, _ = simulate_sequences(tasks, 10_000, 220, np.random.default_rng(7), p_motif=0.3)
    path = tmp_path_factory.mktemp("planted") / "planted.fa"
    write_fasta(path, [f"s{i}" for i in range(len(x))], x)
    return path


@pytest.fixture(scope="module")
def example_run(planted_fasta: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("motifs") / "out"
    assert main(["motifs", "--model", str(EXAMPLE_MODEL), "--sequences", str(planted_fasta),
                 "-o", str(out), "--no-logos", "--device", "cpu", "-q"]) == 0
    return out


def test_example_model_kernels_recover_the_planted_motifs(example_run: Path) -> None:
    matches = pd.read_csv(example_run / "matches.tsv", sep="\t")
    best = matches[(matches["rank"] == 1) & (matches["q"] < 0.05)]
    planted_ids = {find_motif(JASPAR, name).id for name in PLANTED}
    assert planted_ids == {"MA0139.2", "MA0138.3", "MA0088.2", "MA0112.4"}
    recovered = planted_ids & set(best["match_id"])
    assert len(recovered) >= 3, best[["kernel", "match_id", "match_name", "q"]]
    summary = json.loads((example_run / "summary.json").read_text())
    assert summary["inputs"]["n_sequences"] == 10_000
    assert summary["counts"]["matched"] == best["kernel"].nunique()


def test_example_outputs_agree_with_each_other(example_run: Path) -> None:
    kernels = pd.read_csv(example_run / "kernels.tsv", sep="\t")
    matches = pd.read_csv(example_run / "matches.tsv", sep="\t")
    summary = json.loads((example_run / "summary.json").read_text())
    counts = summary["counts"]
    assert len(kernels) == counts["kernels"] == 32
    assert kernels["status"].value_counts().to_dict() == {
        s: counts[s] for s in ("matched", "no_match", "uninformative", "too_few_sites")
        if counts[s]}
    few = kernels[kernels["n_sites"] < 10]
    assert (few["status"] == "too_few_sites").all()
    assert summary["kernels_too_few_sites"] == dict(zip(few["kernel"], few["n_sites"],
                                                        strict=True))
    meme = read_meme(example_run / "kernels.meme")
    assert [m.id for m in meme] == kernels.loc[kernels["n_sites"] >= 10, "kernel"].tolist()
    assert [m.n_sites for m in meme] == kernels.loc[kernels["n_sites"] >= 10, "n_sites"].tolist()
    assert [m.name for m in meme] == [m.consensus() for m in meme]
    assert counts["matches"] == len(matches) and (matches["q"] < 0.05).all()
    assert counts["matched_motifs"] == matches["match_id"].nunique()
    by_kernel = matches.groupby("kernel")
    assert (by_kernel["rank"].min() == 1).all() and (by_kernel["p"].is_monotonic_increasing).all()
    matched = kernels[kernels["status"] == "matched"].set_index("kernel")
    assert (matched["n_matches"] == by_kernel.size()[matched.index]).all()
    assert counts["best_match_motifs"] == matches.loc[matches["rank"] == 1, "match_id"].nunique()
    for name, total in (("best_matches", "best_match_motifs"), ("all_matches", "matched_motifs")):
        distinct = counts["distinct_motifs_by_edit_distance"][name]
        assert list(distinct) == ["0", "3", "5", "10"]
        assert counts[total] >= distinct["0"] >= distinct["3"] >= distinct["5"] \
            >= distinct["10"] >= 1


def test_genome_windows_by_regions_and_at_random(tmp_path: Path) -> None:
    bed = tmp_path / "real.bed"
    bed.write_text("chr17\t7512444\t7520000\nchr17\t7519000\t7531642\n")  # merge: 19,198 bp
    out = tmp_path / "regions"
    summary = kernel_motifs(EXAMPLE_MODEL, out, genome=EXAMPLE_GENOME, regions=bed, logos=False,
                            device="cpu")
    assert summary["inputs"]["n_sequences"] == 88  # ceil(19,198 / 220) tiles
    assert summary["inputs"]["regions"] == str(bed)
    out = tmp_path / "random"
    summary = kernel_motifs(EXAMPLE_MODEL, out, genome=EXAMPLE_GENOME, random=500, seed=3,
                            logos=False, device="cpu")
    assert summary["inputs"] | {"genome": None} == {
        "genome": None, "random": 500, "seed": 3, "n_sequences": 500, "sequence_length": 220}
    kernels = pd.read_csv(out / "kernels.tsv", sep="\t")
    assert kernels["n_sites"].max() <= 500


# --- logos -----------------------------------------------------------------------------------


def test_logo_pair_png_has_the_stated_size(tmp_path: Path) -> None:
    import matplotlib.image

    kernel = Motif("kernel_0", "", np.random.default_rng(0).dirichlet(np.ones(4) * 0.3, 26))
    figure = logo_pair(kernel, find_motif(JASPAR, "MA0139.2"), offset=-9, orientation="-")
    path = tmp_path / "pair.png"
    figure.savefig(path, dpi=DPI)
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (round(HEIGHT * DPI), round(figure_width(26) * DPI))
    assert image[..., :3].std() > 0.05  # not blank
    top, bottom = figure.axes
    assert bottom.get_xlim() == (-0.5, 25.5) and "reverse complement" in bottom.get_title(
        loc="left")
    wider = logo_pair(kernel, find_motif(JASPAR, "MA1930.2"), offset=-20)  # 33 wide, from -20
    assert wider.axes[1].get_xlim() == (-0.5, 52.5)


def test_logos_of_a_hand_set_ctcf_kernel(tmp_path: Path) -> None:
    """A one-kernel model whose kernel is CTCF's log-odds matrix: its sites over sequences with
    planted CTCF are CTCF, matched to MA0139.2, and drawn as PNG and SVG."""
    import matplotlib.image

    ctcf = find_motif(JASPAR, "MA0139.2")
    model = tiny_model(ctcf.width, length=60, n_kernels=1)
    set_kernel(model, 0, np.log2(np.maximum(ctcf.probs, 1e-3) / 0.25), -10.0)
    tasks = default_tasks(JASPAR, 1, 0, ["CTCF"])
    x, _ = simulate_sequences(tasks, 400, 60, np.random.default_rng(1), p_motif=1.0)
    fasta = tmp_path / "ctcf.fa"
    write_fasta(fasta, [f"s{i}" for i in range(len(x))], x)
    out = tmp_path / "out"
    summary = kernel_motifs(save(model, tmp_path / "m.safetensors"), out, sequences=fasta,
                            device="cpu")
    best = pd.read_csv(out / "matches.tsv", sep="\t").iloc[0]
    assert (best["kernel"], best["match_id"], best["orientation"]) == ("kernel_0", "MA0139.2",
                                                                       "+")
    assert best["offset"] == 0 and summary["counts"]["matched"] == 1
    assert sorted(p.name for p in (out / "logos").iterdir()) == ["kernel_0.png", "kernel_0.svg"]
    image = matplotlib.image.imread(out / "logos" / "kernel_0.png")
    assert image.shape[:2] == (round(HEIGHT * DPI), round(figure_width(15) * DPI))
    assert (out / "logos" / "kernel_0.svg").read_text().lstrip().startswith("<?xml")


# --- refusals --------------------------------------------------------------------------------


def run_fails(capsys: pytest.CaptureFixture[str], out: Path, *args: str) -> str:
    """Run ``tbvar motifs``; expect exit 1, one stderr line, and no output or staging left."""
    code = main(["motifs", "-o", str(out), "--no-logos", "--device", "cpu", *args])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("tbvar: error: "), err
    assert not out.exists() and no_staging_left(out.parent)
    return err


def test_bad_inputs_are_refused_with_one_line(tmp_path: Path, planted_fasta: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs" / "out"
    out.parent.mkdir()
    model = ["--model", str(EXAMPLE_MODEL)]
    bad_meme = tmp_path / "bad.meme"
    bad_meme.write_text("MEME version 4\n\nMOTIF X1\nletter-probability matrix: w= 2\n"
                        "0.5 0.5 0 0\nnot numbers\n")
    assert "bad.meme: line 6: motif X1" in run_fails(
        capsys, out, *model, "--sequences", str(planted_fasta), "--database", str(bad_meme))
    short = tmp_path / "short.fa"
    short.write_text(">one\n" + "A" * 220 + "\n>two\n" + "ACGT" * 50 + "\n")
    assert "short.fa: record 'two' (2): length 200, the model takes 220" in run_fails(
        capsys, out, *model, "--sequences", str(short))
    empty_bed = tmp_path / "empty.bed"
    empty_bed.write_text("# no intervals\n")
    assert "empty.bed: none of its 0 intervals" in run_fails(
        capsys, out, *model, "--genome", str(EXAMPLE_GENOME), "--regions", str(empty_bed))
    assert "missing.fa: cannot read FASTA" in run_fails(
        capsys, out, *model, "--sequences", str(tmp_path / "missing.fa"))
    assert "give exactly one of a FASTA of sequences or a genome" in run_fails(
        capsys, out, *model, "--random", "10")


def test_models_without_a_convolution_first_layer_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tbvar.baselines import DeepSEA, DeepSEAConfig

    deepsea = save(DeepSEA(DeepSEAConfig(sequence_length=60, channels=(2, 2, 2), kernel_width=3,
                                         pool_size=2, dense_units=2, n_tasks=1)),
                   tmp_path / "deepsea.safetensors")
    fasta = tmp_path / "s.fa"
    fasta.write_text(">s\n" + "ACGT" * 15 + "\n")
    err = run_fails(capsys, tmp_path / "out", "--model", str(deepsea), "--sequences", str(fasta))
    assert "'deepsea' has no one-hot convolution first layer 'conv'" in err


def test_missing_optional_packages_are_named(tmp_path: Path, planted_fasta: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "logomaker" else find_spec(name, *a))
    out = tmp_path / "out"
    code = main(["motifs", "--model", str(EXAMPLE_MODEL), "--sequences", str(planted_fasta),
                 "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and err == ("tbvar: error: tbvar motifs needs logomaker: pip install "
                                 "'tbvar[interpret]'\n")
    assert not out.exists()


def test_an_existing_output_is_kept_unless_overwritten(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    model = tiny_model(4)
    set_kernel(model, 0, np.eye(4)[encode_sequence("GATC")], -3.5)
    path = save(model, tmp_path / "m.safetensors")
    fasta = tmp_path / "s.fa"
    fasta.write_text(">s\n" + "GATC" * 10 + "\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("x")
    code = main(["motifs", "--model", str(path), "--sequences", str(fasta), "-o", str(out),
                 "--no-logos", "-q"])
    assert code == 1 and "already exists" in capsys.readouterr().err
    assert (out / "keep").exists()
    assert main(["motifs", "--model", str(path), "--sequences", str(fasta), "-o", str(out),
                 "--no-logos", "-q", "--overwrite"]) == 0
    assert not (out / "keep").exists() and (out / "summary.json").exists()
    assert no_staging_left(tmp_path)
