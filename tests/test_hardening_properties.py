"""Property-based tests of windows and allele handling, and a seeded fuzz run of the reader."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tbvar
from tbvar.genome import Genome, decode_sequence
from tbvar.model import N_CODE, reverse_complement_codes
from tbvar.variants import STATUSES, VariantInputError, classify
from tbvar.windows import allele_windows, pad_alleles
from tests.vcf_corpus import build_corpus, genome_sequences, write_genome, write_model

codes_strategy = st.lists(st.integers(0, 4), min_size=1, max_size=120).map(
    lambda values: np.array(values, dtype=np.uint8))
lengths = st.sampled_from([8, 21, 50, 64])
bases = st.text("ACGT", min_size=1, max_size=12)


def _window(contig: np.ndarray, pos0: int, ref_len: int, allele: str, length: int
            ) -> tuple[np.ndarray, bool]:
    allele_codes, allele_len = pad_alleles([allele])
    windows, edge = allele_windows(contig, np.array([pos0]), np.array([ref_len]),
                                   allele_codes, allele_len, length)
    return windows[0], bool(edge[0])


def _plain_window(contig: np.ndarray, pos0: int, length: int) -> np.ndarray:
    """The genome window of docs/architecture.md by direct slicing, N outside the contig."""
    padded = np.concatenate([np.full(length, N_CODE, np.uint8), contig,
                             np.full(length, N_CODE, np.uint8)])
    start = pos0 - length // 2 + length
    return padded[start:start + length]


@settings(deadline=None)
@given(codes_strategy, st.data(), lengths)
def test_ref_to_ref_alt_window_is_the_genome_window(contig, data, length) -> None:
    pos0 = data.draw(st.integers(0, len(contig) - 1))
    ref_len = data.draw(st.integers(1, len(contig) - pos0))
    ref = decode_sequence(contig[pos0:pos0 + ref_len])
    window, edge = _window(contig, pos0, ref_len, ref, length)
    assert np.array_equal(window, _plain_window(contig, pos0, length))
    assert edge == (pos0 - length // 2 < 0 or pos0 - length // 2 + length > len(contig))


@settings(deadline=None)
@given(codes_strategy, st.data(), bases, lengths)
def test_insertion_then_matching_deletion_restores_the_window(contig, data, inserted,
                                                              length) -> None:
    pos0 = data.draw(st.integers(0, len(contig) - 1))
    anchor = decode_sequence(contig[pos0:pos0 + 1])
    ref_window, ref_edge = _window(contig, pos0, 1, anchor, length)
    ins_window, _ = _window(contig, pos0, 1, anchor + inserted, length)
    # the genome after the insertion ...
    inserted_codes = tbvar.genome.encode_sequence(inserted)
    mutated = np.concatenate([contig[:pos0 + 1], inserted_codes, contig[pos0 + 1:]])
    assert np.array_equal(_window(mutated, pos0, 1, anchor, length)[0], ins_window)
    # ... and the deletion of the inserted bases from it give back the original window
    deleted, del_edge = _window(mutated, pos0, 1 + len(inserted), anchor, length)
    assert np.array_equal(deleted, ref_window) and del_edge == ref_edge


@settings(deadline=None)
@given(codes_strategy)
def test_reverse_complement_twice_is_identity(contig) -> None:
    codes = torch.from_numpy(contig[None, :].copy())
    once = reverse_complement_codes(codes)
    assert torch.equal(reverse_complement_codes(once), codes)
    complement = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}
    expected = "".join(complement[b] for b in reversed(decode_sequence(contig)))
    assert decode_sequence(once[0].numpy()) == expected


@settings(deadline=None)
@given(codes_strategy, st.data(), bases, st.integers(1, 6), lengths)
def test_trimming_a_shared_suffix_keeps_the_alt_window(contig, data, prefix, shared,
                                                       length) -> None:
    pos0 = data.draw(st.integers(0, len(contig) - 1))
    ref_len = data.draw(st.integers(1, len(contig) - pos0))
    shared = min(shared, ref_len - 1)
    ref = decode_sequence(contig[pos0:pos0 + ref_len])
    suffix = ref[ref_len - shared:] if shared else ""
    full, _ = _window(contig, pos0, ref_len, prefix + suffix, length)
    trimmed, _ = _window(contig, pos0, ref_len - shared, prefix, length)
    assert np.array_equal(full, trimmed)
    ref_full, _ = _window(contig, pos0, ref_len, ref, length)
    ref_trimmed, _ = _window(contig, pos0, ref_len - shared, ref[:ref_len - shared], length)
    assert np.array_equal(ref_full, ref_trimmed)


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory) -> Genome:
    return Genome(write_genome(tmp_path_factory.mktemp("genome")), cache_dir=False)


SEQ = genome_sequences()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_classify_ref_match_and_flip(genome: Genome, data) -> None:
    contig = data.draw(st.sampled_from(sorted(SEQ)))
    seq = SEQ[contig]
    pos0 = data.draw(st.integers(0, len(seq) - 3))
    ref = seq[pos0:pos0 + data.draw(st.integers(1, 3))]
    alt = data.draw(bases)
    wrong = "".join({"A": "C", "C": "G", "G": "T", "T": "A", "N": "A"}[b.upper()] for b in ref)
    frame = pd.DataFrame({"chrom": [contig] * 3, "pos": [pos0 + 1] * 3,
                          "ref": [ref.lower(), wrong, wrong], "alt": [alt, alt, ref]})
    out = classify(frame, genome, ref_mismatch="flip")
    alt_is_genome = seq[pos0:pos0 + len(alt)].upper() == alt  # shorter slice at the end: False
    assert out["ref_match"].tolist() == [True, False, False]
    assert out["swapped"].tolist() == [False, alt_is_genome, True]
    assert out["status"].tolist() == ["ok", "ok" if alt_is_genome else "ref_mismatch", "ok"]
    assert (out["ref"].iloc[2], out["alt"].iloc[2]) == (ref, wrong)
    assert (out["ref"].iloc[0], out["alt"].iloc[0]) == (ref.lower(), alt)


# -- fuzz --------------------------------------------------------------------------------------
TOKENS = [b".", b"", b"-1", b"0", b"99999999999999999999", b"N", b"<DEL>", b"A,,G", b"chrZ",
          b"1e5", b"ACGT" * 40, b"*", b"G]chr1:5]", b"\xff", b"\x00", b"\r", b"a;b=c", b"#x"]
FUZZ_CASES = 200
FUZZ_SEED = 20261128


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """1-3 random edits; 80 % of them fall in the records (after the #CHROM line)."""
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(8)
        lines = data.split(b"\n")
        chrom = next((i for i, line in enumerate(lines) if line.startswith(b"#CHROM")), -1)
        body = len(b"\n".join(lines[:chrom + 1])) if chrom >= 0 else 0
        in_body = rng.random() < 0.8 and 0 <= chrom < len(lines) - 1
        low, first_line = (body, chrom + 1) if in_body else (0, 0)
        at = rng.randrange(low, len(data)) if len(data) > low else len(data)
        line = rng.randrange(first_line, len(lines))
        if op == 0 and data[at:]:
            i = at
            data = data[:i] + bytes([rng.randrange(256)]) + data[i + 1:]
        elif op == 1 and data[at:]:
            i = at
            data = data[:i] + data[i + 1:]
        elif op == 2:
            i = at
            data = data[:i] + rng.choice([b"\t", b"\n", b"\r\n", b",", b"<", b"N"]) + data[i:]
        elif op == 3:
            lines.insert(line, lines[line])
            data = b"\n".join(lines)
        elif op == 4 and len(lines) > 1:
            del lines[line]
            data = b"\n".join(lines)
        elif op == 5 and len(lines) > 1:
            other = rng.randrange(first_line, len(lines))
            lines[line], lines[other] = lines[other], lines[line]
            data = b"\n".join(lines)
        elif op == 6:
            data = data[:at]
        else:
            fields = lines[line].split(b"\t")
            fields[rng.randrange(len(fields))] = rng.choice(TOKENS)
            lines[line] = b"\t".join(fields)
            data = b"\n".join(lines)
    return data


def _record_lines(data: bytes) -> int | None:
    """Independent count of record lines of a (mutated) text VCF; None if no #CHROM line."""
    lines = data.split(b"\n")
    starts = [i for i, line in enumerate(lines) if line.startswith(b"#CHROM")]
    if not starts:
        return None
    return sum(1 for line in lines[starts[0] + 1:] if line.strip())


def test_fuzzed_vcfs_score_or_fail_clearly(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    cases = build_corpus(corpus)
    seeds = [corpus / c.name for c in cases
             if c.error is None and not c.args and c.name.endswith(".vcf") and c.records]
    genome = Genome(write_genome(tmp_path), cache_dir=False)
    model = tbvar.load_model(write_model(tmp_path / "tiny.safetensors"))
    rng = random.Random(FUZZ_SEED)
    outcomes = {"scored": 0, "error": 0}
    for case in range(FUZZ_CASES):
        seed_file = rng.choice(seeds)
        data = _mutate(seed_file.read_bytes(), rng)
        compressed = rng.random() < 0.2
        path = tmp_path / (f"fuzz{case}.vcf" + (".gz" if compressed else ""))
        path.write_bytes(gzip.compress(data, mtime=0) if compressed else data)
        try:
            frame = tbvar.score_vcf(path, genome, model, device="cpu", chunk_size=7,
                                    batch_size=16)
        except VariantInputError as exc:
            message = str(exc)
            assert message.startswith(f"{path}: ") and "\n" not in message, message
            outcomes["error"] += 1
            continue
        summary = frame.attrs["summary"]
        assert summary["records"] == _record_lines(data), (case, seed_file.name)
        assert set(frame["status"]) <= set(STATUSES)
        assert len(frame) == summary["alleles"]
        assert frame["record_index"].nunique() == summary["records"]
        outcomes["scored"] += 1
    assert outcomes["scored"] >= 40 and outcomes["error"] >= 40, outcomes
