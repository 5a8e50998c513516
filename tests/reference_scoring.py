"""A deliberately slow, independent scorer used as the reference in tests.

Written differently from tbvar's engine: FASTA parsed with plain Python, windows cut by string
slicing per variant, one-hot made with numpy from a dict, reverse complement made on strings,
the model run on one one-hot float sequence at a time, scores computed with numpy.
"""

from __future__ import annotations

import gzip

import numpy as np
import torch

ONEHOT = {"A": [1, 0, 0, 0], "G": [0, 1, 0, 0], "C": [0, 0, 1, 0], "T": [0, 0, 0, 1]}
COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}


def read_fasta(path: str) -> dict[str, str]:
    """Whole FASTA (plain or gzip/bgzip) as upper-case strings; non-ACGT become N."""
    opener = gzip.open if str(path).endswith(".gz") else open
    contigs: dict[str, list[str]] = {}
    name = None
    with opener(path, "rt") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith(">"):
                name = line[1:].split()[0]
                contigs[name] = []
            elif line:
                contigs[name].append(line)
    return {k: "".join(c if c in "ACGT" else "N" for c in "".join(v).upper())
            for k, v in contigs.items()}


def window(contig: str, pos: int, ref: str, allele: str, length: int) -> str:
    """Left flank + allele + sequence after REF, N outside the contig, cut/filled to length."""
    pos0 = pos - 1
    half = length // 2
    left = "".join(contig[i] if 0 <= i < len(contig) else "N" for i in range(pos0 - half, pos0))
    right_start = pos0 + len(ref)
    needed = length - half - len(allele)
    right = "".join(contig[i] if i < len(contig) else "N"
                    for i in range(right_start, right_start + max(needed, 0)))
    return (left + allele.upper() + right)[:length]


def revcomp(seq: str) -> str:
    return "".join(COMPLEMENT[b] for b in reversed(seq))


def onehot(seq: str) -> np.ndarray:
    return np.array([ONEHOT.get(b, [0, 0, 0, 0]) for b in seq], dtype=np.float32)


def run_one(model: torch.nn.Module, seq: str) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        logits, attention = model(torch.from_numpy(onehot(seq))[None])
    return torch.sigmoid(logits)[0].numpy(), attention[0].numpy()


def reference_scores(model: torch.nn.Module, contig: str, pos: int, ref: str, alt: str,
                     length: int, rc: bool = True) -> dict[str, np.ndarray]:
    """Scores of one variant, per docs/architecture.md, the slow way."""
    out = {}
    for name, allele in (("ref", ref), ("alt", alt)):
        seq = window(contig, pos, ref, allele, length)
        p, a = run_one(model, seq)
        if rc:
            p_rc, a_rc = run_one(model, revcomp(seq))
            p, a = (p + p_rc) / 2, (a + a_rc[::-1]) / 2
        out[name], out[f"{name}_attention"] = p, a
    eps = 1e-7
    clip = lambda p: np.clip(p.astype(np.float64), eps, 1 - eps)  # noqa: E731
    out["lod"] = np.log(clip(out["alt"]) / (1 - clip(out["alt"]))) - np.log(
        clip(out["ref"]) / (1 - clip(out["ref"])))
    out["diff"] = out["alt"] - out["ref"]
    out["attn_shift"] = 0.5 * np.abs(out["alt_attention"] - out["ref_attention"]).sum()
    return out
