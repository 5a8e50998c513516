"""tbvar.explain: task scores, ISM, kernel activity and attention bins against independent
computations (direct forward passes on hand-cut strings, numpy convolutions, perturbations)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import tbvar
from tbvar.background import BackgroundError
from tbvar.baselines import DanQ, DanQConfig
from tbvar.checkpoint import ModelInfo, save_model
from tbvar.errors import VariantInputError
from tbvar.explain import Explainer, parse_variant
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.tasks import generic_tasks

from .conftest import EXAMPLE_GENOME, EXAMPLES

MODEL = EXAMPLES / "model.safetensors"
BACKGROUND = EXAMPLES / "background.safetensors"
ONEHOT = {"A": 0, "G": 1, "C": 2, "T": 3}
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
SNV = "chr17:7517295:C:G"  # rs143393141, REF verified (examples/README.md)


def onehot(sequences: list[str]) -> torch.Tensor:
    """(n, L, 4) one-hot in A, G, C, T order; N all zero."""
    out = np.zeros((len(sequences), len(sequences[0]), 4), dtype=np.float32)
    for i, sequence in enumerate(sequences):
        for j, base in enumerate(sequence):
            if base in ONEHOT:
                out[i, j, ONEHOT[base]] = 1
    return torch.from_numpy(out)


def direct_probs(model: torch.nn.Module, sequences: list[str]) -> np.ndarray:
    """Probabilities averaged over each string and its reverse complement (hand-made)."""
    reverse = [s.translate(COMPLEMENT)[::-1] for s in sequences]
    with torch.no_grad():
        forward = torch.sigmoid(model(onehot(sequences))[0]).numpy()
        backward = torch.sigmoid(model(onehot(reverse))[0]).numpy()
    return (forward + backward) / 2


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def window_text(genome: Path | str, contig: str, pos: int, length: int, extra: int = 0) -> str:
    """The REF window by string slicing (the base at 1-based ``pos`` at index L/2), and
    ``extra`` bases after it."""
    import pysam

    start = pos - 1 - length // 2
    with pysam.FastaFile(str(genome)) as fasta:
        return fasta.fetch(contig, start, start + length + extra).upper()


@pytest.fixture(scope="module")
def example_model() -> torch.nn.Module:
    return tbvar.load_model(MODEL)


@pytest.fixture(scope="module")
def explained(example_model: torch.nn.Module) -> tbvar.VariantExplanation:
    return tbvar.explain_variant(SNV, EXAMPLE_GENOME, example_model, device="cpu",
                                 tasks=["CTCF", "ESR1"], background=BACKGROUND)


@pytest.mark.parametrize("text, expected", [
    ("chr17:7517295:C:G", ("chr17", 7517295, "C", "G")),
    ("1:10:acg:a", ("1", 10, "ACG", "A")),
    ("HLA-A*01:01:01:01:5:A:T", ("HLA-A*01:01:01:01", 5, "A", "T")),
    ("chr17-7517295-C-G", ("chr17", 7517295, "C", "G")),
    ("chr17_7517295_C_G", ("chr17", 7517295, "C", "G")),
])
def test_parse_variant(text: str, expected: tuple) -> None:
    spec = parse_variant(text)
    assert (spec.chrom, spec.pos, spec.ref, spec.alt) == expected


@pytest.mark.parametrize("text, reason", [
    ("chr17:7517295:C", "not chrom:pos:ref:alt"),
    ("chr17:0:C:G", "POS 0 is not a positive integer"),
    ("chr17:1e3:C:G", "not chrom:pos:ref:alt"),
    ("chr17:5:C:<DEL>", "REF and ALT must be bases"),
    ("chr17:5:C:G,T", "REF and ALT must be bases"),
    ("chr17:5:C:c", "REF and ALT are the same"),
    ("::C:G", "not chrom:pos:ref:alt"),
])
def test_malformed_variants_name_the_variant_and_reason(text: str, reason: str) -> None:
    with pytest.raises(VariantInputError) as error:
        parse_variant(text)
    message = str(error.value)
    assert message.startswith(f"variant {text!r}: ") and reason in message
    assert "\n" not in message


def test_tasks_equal_tbvar_score(explained: tbvar.VariantExplanation,
                                 example_model: torch.nn.Module) -> None:
    chrom, pos, ref, alt = SNV.split(":")
    scored = tbvar.score_variants(pd.DataFrame({"chrom": [chrom], "pos": [int(pos)],
                                                "ref": [ref], "alt": [alt]}),
                                  EXAMPLE_GENOME, example_model, device="cpu",
                                  scores=["ref", "alt", "lod", "p"], background=BACKGROUND)
    labels = explained.task_labels
    for name, values in (("ref", explained.ref_prob), ("alt", explained.alt_prob),
                         ("lod", explained.lod), ("p", explained.p)):
        expected = scored[[f"{name}.{label}" for label in labels]].to_numpy()[0]
        np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(explained.top_tasks, np.argsort(-np.abs(explained.lod)))
    assert explained.combined_p == pytest.approx(float(scored["combined_p"].iloc[0]), rel=1e-6)


def test_ism_against_direct_forward_passes(explained: tbvar.VariantExplanation,
                                           example_model: torch.nn.Module) -> None:
    """Every cell is the lod of a hand-mutated string against the REF string."""
    length = example_model.config.sequence_length
    pos = explained.pos
    window = window_text(EXAMPLE_GENOME, "chr17", pos, length)
    positions = explained.ism_positions
    np.testing.assert_array_equal(positions, np.arange(pos - 50, pos + 51))
    assert explained.ism_reference == window[length // 2 - 50:length // 2 + 51]
    mutants, cells = [], []
    for p_index, position in enumerate(positions):
        i = position - pos + length // 2
        for base in "AGCT":
            if base != window[i]:
                mutants.append(window[:i] + base + window[i + 1:])
                cells.append((p_index, ONEHOT[base]))
    probs = direct_probs(example_model, [window, *mutants])
    lod = logit(probs[1:]) - logit(probs[:1])
    tasks = [list(explained.task_labels).index(f"simulated|{t}|None") for t in ("CTCF", "ESR1")]
    np.testing.assert_array_equal(explained.ism_tasks, tasks)
    rows, bases = np.array(cells).T
    for m, task in enumerate(tasks):
        np.testing.assert_allclose(explained.ism[m][rows, bases], lod[:, task], atol=2e-4)
        reference = np.array([ONEHOT[b] for b in explained.ism_reference])
        assert (explained.ism[m][np.arange(101), reference] == 0).all()
        # the variant itself is one of the cells: POS mutated to ALT
        assert explained.ism[m][50, ONEHOT["G"]] == pytest.approx(explained.lod[task], abs=2e-4)
    np.testing.assert_allclose(explained.ism_max, np.abs(explained.ism).max(axis=2))


def brute_force_kernels(model: torch.nn.Module, sequence: str, allele: tuple[int, int]
                        ) -> np.ndarray:
    """Per kernel, max over positions whose bases overlap ``allele`` (window indices
    [start, end)) of ReLU(conv + bias), on the string and on its reverse complement."""
    weight = model.conv.weight.detach().numpy()  # (K, 4, w)
    bias = model.conv.bias.detach().numpy()
    width = weight.shape[2]
    mask = np.zeros(len(sequence), dtype=bool)
    mask[allele[0]:allele[1]] = True
    out = []
    for text, marked in ((sequence, mask), (sequence.translate(COMPLEMENT)[::-1], mask[::-1])):
        x = onehot([text]).numpy()[0]  # (L, 4)
        best = np.zeros(weight.shape[0])
        for j in range(len(text) - width + 1):
            if marked[j:j + width].any():
                value = np.maximum(np.einsum("kct,tc->k", weight, x[j:j + width]) + bias, 0)
                best = np.maximum(best, value)
        out.append(best)
    return np.array(out)


def test_kernel_activity_against_numpy_convolution(example_model: torch.nn.Module) -> None:
    """A deletion: the REF allele spans 3 bases, the ALT allele 1."""
    length = example_model.config.sequence_length
    pos = 7517400
    window = window_text(EXAMPLE_GENOME, "chr17", pos, length, extra=2)
    ref = window[length // 2:length // 2 + 3]
    explained = tbvar.explain_variant(f"chr17:{pos}:{ref}:{ref[0]}", EXAMPLE_GENOME,
                                      example_model, device="cpu", window=5)
    ref_window = window[:length]
    alt_window = window[:length // 2 + 1] + window[length // 2 + 3:length + 2]
    center = length // 2
    np.testing.assert_allclose(explained.kernel_ref, brute_force_kernels(
        example_model, ref_window, (center, center + 3)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(explained.kernel_alt, brute_force_kernels(
        example_model, alt_window, (center, center + 1)), rtol=1e-5, atol=1e-5)
    delta = np.abs(explained.kernel_alt - explained.kernel_ref).max(axis=0)
    assert np.all(np.diff(delta[explained.kernel_ranking]) <= 0)
    assert any("indel" in note for note in explained.notes)


def test_attention_bins_are_the_receptive_fields(tmp_path: Path) -> None:
    """Mutating genome position g changes the attention logit of exactly the bins whose
    [bin_start, bin_end] hold g: with many kernels, every base of a bin's span moves it."""
    torch.manual_seed(1)
    config = TBiNetConfig(sequence_length=120, n_kernels=128, kernel_width=10, pool_size=5,
                          lstm_units=2, dense_units=2, n_tasks=1)
    model = TBiNet(config).eval()
    rng = np.random.default_rng(0)
    contig = "".join(rng.choice(list("ACGT"), 400))
    genome = tmp_path / "g.fa"
    genome.write_text(f">c\n{contig}\n")
    pos = 200
    explained = tbvar.explain_variant(f"c:{pos}:{contig[pos - 1]}:N", genome, model,
                                      device="cpu", window=0)
    assert len(explained.bin_start) == config.n_bins == 22
    start = pos - 1 - config.sequence_length // 2  # 0-based genome start of the window
    window = contig[start:start + config.sequence_length]
    touched: dict[int, list[int]] = {}
    mutants = [(g, window[:i] + b + window[i + 1:]) for i, g in
               enumerate(range(start + 1, start + 1 + len(window)))
               for b in "ACGT" if b != window[i]]
    with torch.no_grad():
        logs = torch.log(model(onehot([window] + [m for _, m in mutants]))[1]).numpy()
    change = logs[1:] - logs[:1]
    moved = np.abs(change - np.median(change, axis=1, keepdims=True)) > 1e-5
    for (g, _), bins in zip(mutants, moved, strict=True):
        for k in np.flatnonzero(bins):
            touched.setdefault(int(k), []).append(g)
    assert sorted(touched) == list(range(config.n_bins))
    for k, positions in touched.items():
        assert (min(positions), max(positions)) == (explained.bin_start[k], explained.bin_end[k])


def test_a_background_of_another_model_is_refused_as_by_score(small_model_file: Path) -> None:
    with pytest.raises(BackgroundError) as scored:
        tbvar.score_vcf(EXAMPLES / "variants.vcf", EXAMPLE_GENOME, small_model_file,
                        device="cpu", background=BACKGROUND)
    with pytest.raises(BackgroundError) as explained:
        tbvar.explain_variant(SNV, EXAMPLE_GENOME, small_model_file, device="cpu",
                              background=BACKGROUND)
    assert str(explained.value) == str(scored.value)
    assert "built for another model" in str(scored.value) and "\n" not in str(scored.value)


@pytest.fixture(scope="module")
def danq_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(3)
    config = DanQConfig(sequence_length=220, n_kernels=8, kernel_width=26, pool_size=13,
                        lstm_units=4, dense_units=8, n_tasks=3)
    path = tmp_path_factory.mktemp("danq") / "danq.safetensors"
    save_model(DanQ(config).eval(), path, ModelInfo(config=config, tasks=generic_tasks(3)))
    return path


def test_model_without_attention_explains_all_but_attention(danq_file: Path) -> None:
    explained = tbvar.explain_variant(SNV, EXAMPLE_GENOME, danq_file, device="cpu", window=3)
    assert explained.arch == "danq" and not explained.model_has_attention
    assert explained.attention_ref is None and explained.bin_start is None
    assert explained.attention_diff is None
    assert explained.ism.shape == (1, 7, 4) and explained.kernel_ref.shape == (2, 8)
    with pytest.raises(ValueError, match="a danq model has no attention") as error:
        tbvar.explain_variant(SNV, EXAMPLE_GENOME, danq_file, device="cpu", attention=True)
    assert "\n" not in str(error.value)


def test_no_attention_when_left_out(example_model: torch.nn.Module) -> None:
    explained = tbvar.explain_variant(SNV, EXAMPLE_GENOME, example_model, device="cpu",
                                      window=1, attention=False, reverse_complement=False)
    assert explained.model_has_attention and not explained.has_attention
    assert explained.kernel_ref.shape == (1, 32)  # forward strand only without RC


@pytest.mark.parametrize("variant, reason", [
    ("chrUn:5:A:G", "contig not in the genome"),
    ("chr17:81195211:A:G", "REF runs past the end of the contig (contig chr17 has "),
    ("chr17:7517295:A:G", "REF differs from the genome (genome: C;"),
])
def test_variants_off_the_genome_are_refused(example_model: torch.nn.Module, variant: str,
                                             reason: str) -> None:
    explainer = Explainer(EXAMPLE_GENOME, example_model, device="cpu")
    with pytest.raises(VariantInputError) as error:
        explainer.explain(variant)
    assert str(error.value).startswith(f"variant {variant}: ") and reason in str(error.value)


def test_ref_mismatch_policies_are_those_of_score(example_model: torch.nn.Module) -> None:
    swapped = tbvar.explain_variant("chr17:7517295:G:C", EXAMPLE_GENOME, example_model,
                                    device="cpu", window=1, ref_mismatch="flip")
    assert (swapped.ref, swapped.alt) == ("C", "G") and "swapped" in swapped.notes[0]


def test_window_limits(example_model: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="window 110: the ISM half-width must be 0..109"):
        Explainer(EXAMPLE_GENOME, example_model, window=110)


def test_n_bases_are_not_mutated(example_model: torch.nn.Module) -> None:
    """Next to the first real base of the example genome, 7,512,445: N to its left."""
    explained = tbvar.explain_variant("chr17:7512446:A:G", EXAMPLE_GENOME, example_model,
                                      device="cpu", window=2)
    length = example_model.config.sequence_length
    expected = window_text(EXAMPLE_GENOME, "chr17", 7512446, length)[length // 2 - 2:
                                                                     length // 2 + 3]
    assert explained.ism_reference == expected and expected[0] == "N" != expected[1]
    assert np.isnan(explained.ism[0][0]).all() and not np.isnan(explained.ism[0][1:]).any()
    assert np.isnan(explained.ism_max[0][0]) and not np.isnan(explained.ism_max[0][1:]).any()
    assert any("holds N bases" in note for note in explained.notes)


def test_deepsea_anchor_moves_the_window_one_base(example_model: torch.nn.Module) -> None:
    """With the first REF base at L/2 − 1 the window starts 1 bp later in the genome."""
    chrom, pos, ref, alt = SNV.split(":")
    kwargs = {"device": "cpu", "window": 3, "tasks": ["CTCF"]}
    center = tbvar.explain_variant(SNV, EXAMPLE_GENOME, example_model, **kwargs)
    deepsea = tbvar.explain_variant(SNV, EXAMPLE_GENOME, example_model, anchor="deepsea",
                                    **kwargs)
    np.testing.assert_array_equal(deepsea.bin_start, center.bin_start + 1)
    np.testing.assert_array_equal(deepsea.ism_positions, center.ism_positions)
    assert deepsea.ism_reference == center.ism_reference
    scored = tbvar.score_variants(pd.DataFrame({"chrom": [chrom], "pos": [int(pos)],
                                                "ref": [ref], "alt": [alt]}),
                                  EXAMPLE_GENOME, example_model, device="cpu", anchor="deepsea",
                                  scores=["lod"])
    expected = scored[[f"lod.{label}" for label in deepsea.task_labels]].to_numpy()[0]
    np.testing.assert_allclose(deepsea.lod, expected, rtol=1e-5, atol=1e-6)
    assert deepsea.ism[0][3, ONEHOT[alt]] == pytest.approx(deepsea.lod[0], abs=2e-4)
    length = example_model.config.sequence_length
    window = window_text(EXAMPLE_GENOME, "chr17", int(pos) + 1, length)  # starts 1 bp later
    assert np.allclose(deepsea.kernel_ref, brute_force_kernels(
        example_model, window, (length // 2 - 1, length // 2)), atol=1e-5)


def test_kernel_activity_of_deepsea_reads_its_first_convolution() -> None:
    """DeepSEA's first layer is ``features[0]`` (no ``conv`` attribute)."""
    from tbvar.baselines import DeepSEA, DeepSEAConfig
    from tbvar.kernel_activity import first_convolution

    torch.manual_seed(2)
    model = DeepSEA(DeepSEAConfig(sequence_length=220, channels=(8, 8, 8), kernel_width=5,
                                  pool_size=2, dense_units=8, n_tasks=3)).eval()
    assert first_convolution(model) is model.features[0]
    explained = tbvar.explain_variant(SNV, EXAMPLE_GENOME, model, device="cpu", window=2)
    assert explained.kernel_ref.shape == (2, 8) and explained.attention_ref is None
    with pytest.raises(ValueError, match="has no first convolution over the one-hot bases"):
        first_convolution(torch.nn.Sequential(torch.nn.Conv1d(4, 2, 3, padding=1)))
