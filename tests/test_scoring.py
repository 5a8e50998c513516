"""The batched engine against the slow reference; RC averaging and the attention flip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tbvar
from tbvar.model import TBiNet
from tbvar.scoring import Scorer

from .conftest import EXAMPLE_GENOME, REAL_END, REAL_START, make_model
from .reference_scoring import read_fasta, reference_scores, revcomp

BASES = "ACGT"


def random_variants(contig: str, n: int, seed: int) -> pd.DataFrame:
    """SNVs, MNVs, insertions, deletions and complex variants, a few at the contig end."""
    rng = np.random.default_rng(seed)
    rows = []
    positions = list(rng.integers(REAL_START + 100, REAL_END - 100, n - 6)) + [
        REAL_END - k for k in (0, 1, 3, 10, 200, 499)]
    for i, pos in enumerate(positions):
        pos = int(pos)
        kind = i % 5
        ref_len = 1 if kind in (0, 2) else int(rng.integers(2, 8))
        ref_len = min(ref_len, REAL_END - pos + 1)
        ref = contig[pos - 1:pos - 1 + ref_len]
        if kind == 0:
            alt = rng.choice([b for b in BASES if b != ref])
        elif kind == 1:
            alt = "".join(rng.choice(list(BASES), ref_len))
        elif kind == 2:
            alt = ref + "".join(rng.choice(list(BASES), int(rng.integers(1, 30))))
        elif kind == 3:
            alt = ref[0]
        else:
            alt = "".join(rng.choice(list(BASES), int(rng.integers(1, 5))))
        rows.append(("chr17", pos, ref, str(alt)))
    return pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"])


@pytest.fixture(scope="module")
def chr17() -> str:
    return read_fasta(str(EXAMPLE_GENOME))["chr17"]


def test_engine_matches_slow_reference_on_220_variants(chr17: str, small_model: TBiNet) -> None:
    variants = random_variants(chr17, 220, seed=7)
    assert (variants["ref"].str.len() != variants["alt"].str.len()).sum() > 80  # indels
    frame = tbvar.score_variants(variants, EXAMPLE_GENOME, small_model, device="cpu",
                                 batch_size=16, chunk_size=64,
                                 scores=("ref", "alt", "lod", "diff", "deepsea_effect"))
    assert (frame["status"] == "ok").all()
    labels = [f"task{j}" for j in range(small_model.config.n_tasks)]
    worst = {}
    for i, row in enumerate(variants.itertuples(index=False)):
        want = reference_scores(small_model, chr17, row.pos, row.ref, row.alt, 1000)
        for score in ("ref", "alt", "lod", "diff"):
            got = frame.loc[i, [f"{score}.{label}" for label in labels]].to_numpy(float)
            worst[score] = max(worst.get(score, 0.0), float(np.abs(got - want[score]).max()))
        worst["attn_shift"] = max(worst.get("attn_shift", 0.0),
                                  abs(frame.loc[i, "attn_shift"] - want["attn_shift"]))
        assert frame.loc[i, "attn_peak_ref"] == int(np.argmax(want["ref_attention"]))
    assert max(worst.values()) < 1e-5, worst
    # kipoi's DeepSEA_effect from the (checked) lod and diff; a product of small numbers, so
    # relative to the float32 values rather than to the float64 reference
    lod, diff, effect = (frame.filter(like=f"{s}.").to_numpy() for s in
                         ("lod", "diff", "deepsea_effect"))
    np.testing.assert_allclose(effect, np.abs(lod) * np.abs(diff), rtol=1e-6)


def test_reverse_complement_gives_same_probabilities_and_flipped_attention(
        chr17: str, small_model: TBiNet) -> None:
    seq = chr17[REAL_START + 2000:REAL_START + 3000]
    scorer = Scorer(small_model, device="cpu")
    probs, attention = scorer.predict(tbvar.api._as_codes([seq, revcomp(seq)], 1000))
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-6)
    np.testing.assert_allclose(attention[1], attention[0][::-1], atol=1e-7)


def test_rc_average_equals_mean_of_forward_passes(chr17: str, small_model: TBiNet) -> None:
    seq = chr17[REAL_START + 5000:REAL_START + 6000]
    fwd_p, fwd_a = tbvar.predict([seq, revcomp(seq)], small_model, device="cpu")
    avg_p, avg_a = tbvar.predict([seq], small_model, device="cpu", reverse_complement=True)
    np.testing.assert_allclose(avg_p[0], (fwd_p[0] + fwd_p[1]) / 2, atol=1e-7)
    np.testing.assert_allclose(avg_a[0], (fwd_a[0] + fwd_a[1][::-1]) / 2, atol=1e-7)


def test_palindrome_attention_is_symmetric(chr17: str) -> None:
    """A sequence equal to its own RC: averaged attention must be mirror-symmetric."""
    half = chr17[REAL_START + 800:REAL_START + 1300]
    palindrome = half + revcomp(half)
    model = make_model(seed=3)
    _, attention = tbvar.predict([palindrome], model, device="cpu", reverse_complement=True)
    np.testing.assert_allclose(attention[0], attention[0][::-1], atol=1e-7)
    fwd_p, _ = tbvar.predict([palindrome], model, device="cpu")
    avg_p, _ = tbvar.predict([palindrome], model, device="cpu", reverse_complement=True)
    np.testing.assert_allclose(fwd_p, avg_p, atol=1e-6)


def test_no_rc_option_uses_forward_pass_only(chr17: str, small_model: TBiNet) -> None:
    variants = random_variants(chr17, 10, seed=11).iloc[:4]
    frame = tbvar.score_variants(variants, EXAMPLE_GENOME, small_model, device="cpu",
                                 reverse_complement=False, scores=("alt",))
    for i, row in enumerate(variants.itertuples(index=False)):
        want = reference_scores(small_model, chr17, row.pos, row.ref, row.alt, 1000, rc=False)
        got = frame.loc[i, [f"alt.task{j}" for j in range(5)]].to_numpy(float)
        np.testing.assert_allclose(got, want["alt"], atol=1e-6)


def test_bf16_stays_close_and_fp16_is_refused_on_cpu(chr17: str, small_model: TBiNet) -> None:
    seqs = [chr17[REAL_START + k:REAL_START + k + 1000] for k in (0, 3000, 9000)]
    low, _ = tbvar.predict(seqs, small_model, device="cpu", precision="bf16")
    full, _ = tbvar.predict(seqs, small_model, device="cpu")
    assert np.abs(low - full).max() < 0.05
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        Scorer(small_model, device="cpu", precision="fp16")
