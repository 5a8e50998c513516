"""``tbvar-train simulate``: a planted-motif dataset with known truth.

Each sequence is i.i.d. uniform background (A, C, G, T at 0.25) with motif instances sampled
from real JASPAR probability matrices planted in it. Task kinds:

* **motif task** (``target`` = motif name): positive when an instance of its motif is planted;
  each sequence gets one instance with probability ``p_motif``.
* **grammar task** (``target`` = ``ANCHOR+PARTNER``): positive when an anchor instance is
  followed, on the same strand, by a partner instance after a gap of ``gap`` = (min, max) bp.
  With probability ``p_motif`` the pair is planted; with probability ``p_motif`` each, a lone
  anchor and a lone partner are planted as decoys (present, but not in that arrangement).

Labels are derived from the table of planted sites by these rules
(:func:`labels_from_sites`). Instances never overlap: the sequence is cut into slots as wide as
the widest element and each element placed in its own randomly chosen slot at a random
offset. Chance matches in the background are not labelled (truth = what was planted).
Everything is a function of ``seed``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tbvar.meme import Motif, find_motif, jaspar_path, read_meme
from tbvar_train.shards import ShardWriter, command_line, file_provenance

#: Motif-task defaults: well-known TFs whose JASPAR matrices carry >= 14 bits, so chance
#: matches in 1 kb of uniform background are rare (a 10-bit motif such as GATA1's would occur
#: about twice per kb by chance and make planted truth unlearnable).
DEFAULT_MOTIFS = ("CTCF", "REST", "ZNF143", "ESR1", "NR3C1", "HNF1A", "RFX1", "TP53", "Spi1",
                  "Nrf1", "HSF1", "GFI1")
#: Grammar-task defaults (anchor, partner): SRF + the ETS factor ELK1 (ternary complex),
#: NF-kB + IRF4, TP63 + THAP11.
DEFAULT_GRAMMAR = (("SRF", "ELK1"), ("NFKB1", "IRF4"), ("TP63", "Thap11"))
SITE_COLUMNS = ["seq", "start", "end", "strand", "motif_id", "motif_name", "task", "role"]
CHUNK = 4096


@dataclass(frozen=True, eq=False)
class Task:
    """One simulated task: a motif, or an anchor→partner pair with a gap range (grammar)."""

    motif: Motif
    partner: Motif | None = None
    gap: tuple[int, int] = (2, 10)

    @property
    def target(self) -> str:
        """Task name: the motif name, or ``ANCHOR+PARTNER``."""
        return self.motif.name if self.partner is None else (
            f"{self.motif.name}+{self.partner.name}")


def default_tasks(motifs: list[Motif], n_tasks: int, n_grammar: int,
                  names: list[str] | None = None, gap: tuple[int, int] = (2, 10)) -> list[Task]:
    """``n_tasks`` tasks: ``n_tasks - n_grammar`` motif tasks then ``n_grammar`` grammar tasks.

    Motif tasks use ``names`` (default :data:`DEFAULT_MOTIFS`); grammar tasks use
    :data:`DEFAULT_GRAMMAR`. Every motif appears in one task only.
    """
    n_simple = n_tasks - n_grammar
    names = list(names or DEFAULT_MOTIFS)
    if n_simple < 0 or n_grammar > len(DEFAULT_GRAMMAR):
        raise ValueError(f"n_grammar must be 0..{min(n_tasks, len(DEFAULT_GRAMMAR))}")
    if n_simple > len(names):
        raise ValueError(f"{n_simple} motif tasks need {n_simple} motif names; "
                         f"{len(names)} given")
    if not 0 <= gap[0] <= gap[1]:
        raise ValueError(f"gap range {gap} must satisfy 0 <= min <= max")
    tasks = [Task(find_motif(motifs, name)) for name in names[:n_simple]]
    tasks += [Task(find_motif(motifs, a), find_motif(motifs, b), gap)
              for a, b in DEFAULT_GRAMMAR[:n_grammar]]
    used = [t.motif.id for t in tasks] + [t.partner.id for t in tasks if t.partner]
    if len(set(used)) != len(used):
        raise ValueError("each motif may serve one task only")
    return tasks


def _elements(tasks: list[Task]) -> list[tuple[int, str, list[tuple[Motif, str]]]]:
    """Plantable elements: (task, role, [(motif, role of that motif)...])."""
    elements = []
    for j, task in enumerate(tasks):
        if task.partner is None:
            elements.append((j, "motif", [(task.motif, "motif")]))
        else:
            elements.append((j, "pair", [(task.motif, "anchor"), (task.partner, "partner")]))
            elements.append((j, "decoy", [(task.motif, "decoy_anchor")]))
            elements.append((j, "decoy", [(task.partner, "decoy_partner")]))
    return elements


def _element_width(task: Task, kind: str, motifs: list[tuple[Motif, str]]) -> int:
    if kind == "pair":
        return task.motif.width + task.gap[1] + task.partner.width
    return motifs[0][0].width


def simulate_sequences(tasks: list[Task], n: int, length: int, rng: np.random.Generator,
                       p_motif: float = 0.3) -> tuple[np.ndarray, pd.DataFrame]:
    """``n`` sequences (n, length) of base codes and their planted sites.

    Sites have columns ``seq, start, end, strand, motif_id, motif_name, task, role`` with
    0-based half-open positions in the sequence; ``role`` is ``motif``, ``anchor``,
    ``partner``, ``decoy_anchor`` or ``decoy_partner``. Each element is drawn with
    probability ``p_motif``; when a short sequence draws more elements than it has slots, the
    surplus (in task order) is not planted — labels follow what was planted.
    """
    elements = _elements(tasks)
    slot = max(_element_width(tasks[j], kind, ms) for j, kind, ms in elements)
    n_slots = length // slot
    if n_slots < 1:
        raise ValueError(f"sequence length {length} is shorter than the widest motif "
                         f"element ({slot} bp)")
    x = rng.integers(0, 4, size=(n, length), dtype=np.uint8)
    slots = np.argsort(rng.random((n, n_slots)), axis=1)
    present = rng.random((n, len(elements))) < p_motif
    rank = np.cumsum(present, axis=1) - 1  # k-th present element of its sequence
    planted = present & (rank < n_slots)
    sites = []
    for e, (j, kind, members) in enumerate(elements):
        rows = np.flatnonzero(planted[:, e])
        width = _element_width(tasks[j], kind, members)
        origin = (slots[rows, rank[rows, e]] * slot
                  + rng.integers(0, slot - width + 1, size=len(rows)))
        minus = rng.random(len(rows)) < 0.5
        offsets = [np.zeros(len(rows), dtype=np.int64)]
        if kind == "pair":
            gaps = rng.integers(tasks[j].gap[0], tasks[j].gap[1] + 1, size=len(rows))
            offsets.append(tasks[j].motif.width + gaps)
        span = offsets[-1] + members[-1][0].width  # element extent actually used
        for (motif, role), offset in zip(members, offsets, strict=True):
            # On the minus strand the whole element is reverse-complemented in place.
            start = np.where(minus, origin + span - offset - motif.width, origin + offset)
            instance = motif.sample(rng, len(rows))
            instance[minus] = 3 - instance[minus, ::-1]
            x[rows[:, None], start[:, None] + np.arange(motif.width)] = instance
            sites.append(pd.DataFrame({
                "seq": rows, "start": start, "end": start + motif.width,
                "strand": np.where(minus, "-", "+"), "motif_id": motif.id,
                "motif_name": motif.name, "task": j, "role": role}))
    table = pd.concat(sites, ignore_index=True) if sites else pd.DataFrame(columns=SITE_COLUMNS)
    return x, table.sort_values(["seq", "start"], kind="stable").reset_index(drop=True)


def labels_from_sites(tasks: list[Task], sites: pd.DataFrame, n: int) -> np.ndarray:
    """(n, T) uint8 labels implied by planted ``sites`` under the task rules."""
    y = np.zeros((n, len(tasks)), dtype=np.uint8)
    for j, task in enumerate(tasks):
        if task.partner is None:
            y[sites.loc[sites["motif_id"] == task.motif.id, "seq"].to_numpy(), j] = 1
            continue
        anchors = sites[sites["motif_id"] == task.motif.id]
        partners = sites[sites["motif_id"] == task.partner.id]
        pairs = anchors.merge(partners, on=["seq", "strand"], suffixes=("_a", "_p"))
        gap = np.where(pairs["strand"] == "+", pairs["start_p"] - pairs["end_a"],
                       pairs["start_a"] - pairs["end_p"])
        ok = (gap >= task.gap[0]) & (gap <= task.gap[1])
        y[pairs.loc[ok, "seq"].to_numpy(), j] = 1
    return y


def task_records(tasks: list[Task]) -> list[dict[str, Any]]:
    """Shard task records of ``tasks``: cell type ``simulated``, treatment ``None``."""
    return [{"index": j, "cell_type": "simulated", "target": t.target, "treatment": "None"}
            for j, t in enumerate(tasks)]


def split_rng(seed: int, split: str, chunk: int) -> np.random.Generator:
    """Generator of one chunk of one split: data depend on ``seed`` only (fixed chunk size)."""
    return np.random.default_rng([seed, ("train", "valid", "test").index(split), chunk])


def write_fasta(path: str | os.PathLike[str], names: list[str], codes: np.ndarray,
                width: int = 60) -> None:
    """Write contigs ``names`` with base-code rows ``codes`` as FASTA, ``width`` bases a line."""
    from tbvar.genome import decode_sequence

    with open(path, "w", encoding="ascii") as out:
        for name, row in zip(names, codes, strict=True):
            text = decode_sequence(row)
            out.write(f">{name}\n")
            out.write("".join(text[i:i + width] + "\n" for i in range(0, len(text), width)))


def simulate_dataset(out_dir: str | os.PathLike[str], n_tasks: int = 8, n_grammar: int = 1,
                     n_train: int = 20000, n_valid: int = 2000, n_test: int = 2000,
                     seq_len: int = 1000, seed: int = 0, motifs_path: str | None = None,
                     motif_names: list[str] | None = None, p_motif: float = 0.3,
                     gap: tuple[int, int] = (2, 10), genome_seqs: int = 500,
                     variants: bool = True, destroy_width: int = 1, overwrite: bool = False,
                     command: str | None = None) -> dict[str, Any]:
    """Write a simulated shard directory plus ``genome.fa``, sites and variants.

    The first ``genome_seqs`` (default 500) test sequences become contigs ``seq{i}`` of
    ``genome.fa``, each padded with ``seq_len // 2`` bp of fresh background on both sides so
    that windows centred anywhere in the sequence stay inside the contig;
    ``motif_sites.tsv`` gives their planted sites in contig coordinates (0-based, half-open);
    ``variants.vcf``/``variants_truth.tsv`` hold destroying and control variants
    (:mod:`tbvar_train.simvariants`; ``destroy_width`` bases each, 1 = SNVs).
    Returns the ``meta.json`` content.
    """
    import pysam

    from tbvar_train.simvariants import motif_variants, write_vcf

    if destroy_width < 1:
        raise ValueError(f"destroy_width must be at least 1, got {destroy_width}")
    if not 0 < p_motif <= 1:
        raise ValueError(f"p_motif must be in (0, 1], got {p_motif}")
    motifs = read_meme(motifs_path)
    tasks = default_tasks(motifs, n_tasks, n_grammar, motif_names, gap)
    splits = {"train": n_train, "valid": n_valid, "test": n_test}
    n_genome = max(0, min(genome_seqs, n_test))
    flank = seq_len // 2
    provenance = {
        "source": "tbvar-train simulate (planted JASPAR motifs in uniform background)",
        "motifs": file_provenance(motifs_path or jaspar_path()),
        "tasks": [{"target": t.target, "motif": t.motif.label,
                   "partner": t.partner.label if t.partner else None,
                   "gap": list(t.gap) if t.partner else None} for t in tasks],
        "parameters": {"seed": seed, "p_motif": p_motif, "seq_len": seq_len,
                       "genome_seqs": n_genome, "genome_flank": flank,
                       "destroy_width": destroy_width},
        "command": command,
    }
    with ShardWriter(out_dir, seq_len, task_records(tasks), splits, True, provenance,
                     overwrite=overwrite) as writer:
        genome_x, genome_sites = [], []
        for split, n in splits.items():
            for c, start in enumerate(range(0, n, CHUNK)):
                m = min(CHUNK, n - start)
                x, sites = simulate_sequences(tasks, m, seq_len, split_rng(seed, split, c),
                                              p_motif)
                writer.write(split, start, x, labels_from_sites(tasks, sites, m))
                if split == "test" and start < n_genome:
                    genome_x.append(x[:n_genome - start])
                    sites["seq"] += start
                    genome_sites.append(sites[sites["seq"] < n_genome])
        stage = writer.staging_dir
        names = [f"seq{i}" for i in range(n_genome)]
        pad = np.random.default_rng([seed, 3]).integers(0, 4, size=(n_genome, 2, flank),
                                                        dtype=np.uint8)
        body = np.concatenate(genome_x) if genome_x else np.empty((0, seq_len), np.uint8)
        contigs = np.concatenate([pad[:, 0], body, pad[:, 1]], axis=1)
        sites = pd.concat(genome_sites, ignore_index=True) if genome_sites else pd.DataFrame(
            columns=SITE_COLUMNS)
        sites.insert(0, "contig", [f"seq{i}" for i in sites["seq"]])
        sites[["start", "end"]] += flank
        sites.drop(columns="seq").to_csv(stage / "motif_sites.tsv", sep="\t", index=False)
        if n_genome:
            write_fasta(stage / "genome.fa", names, contigs)
            pysam.faidx(str(stage / "genome.fa"))
        if variants and n_genome:
            table = motif_variants(dict(zip(names, contigs, strict=True)), sites,
                                   {m.id: m for m in motifs}, np.random.default_rng([seed, 4]),
                                   region=(flank, flank + seq_len), width=destroy_width)
            write_vcf(stage / "variants.vcf", table, dict.fromkeys(names, contigs.shape[1]))
            table.to_csv(stage / "variants_truth.tsv", sep="\t", index=False)
        writer.commit()
        return writer.meta


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``simulate`` to the ``tbvar-train`` parser."""
    parser = subparsers.add_parser(
        "simulate", help="write a planted-motif dataset with known truth",
        description="Planted JASPAR motifs in random background: shards, genome.fa of the "
                    "test sequences, motif_sites.tsv, variants.vcf + variants_truth.tsv.")
    parser.add_argument("--out", required=True, help="directory to create")
    parser.add_argument("--n-tasks", type=int, default=8, help="number of tasks (default 8)")
    parser.add_argument("--n-grammar", type=int, default=1,
                        help="how many of them are anchor+partner grammar tasks (default 1)")
    parser.add_argument("--n-train", type=int, default=20000,
                        help="training sequences (default 20000)")
    parser.add_argument("--n-valid", type=int, default=2000,
                        help="validation sequences (default 2000)")
    parser.add_argument("--n-test", type=int, default=2000,
                        help="test sequences (default 2000)")
    parser.add_argument("--seq-len", type=int, default=1000,
                        help="sequence length in bp (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--motifs", help="MEME file (default: bundled JASPAR 2024 CORE "
                                         "vertebrates non-redundant)")
    parser.add_argument("--motif-names", help="comma-separated motif names/IDs of the motif "
                                              f"tasks (default {','.join(DEFAULT_MOTIFS)})")
    parser.add_argument("--p-motif", type=float, default=0.3,
                        help="probability that a sequence carries each element (default 0.3)")
    parser.add_argument("--gap", default="2,10", help="grammar gap range MIN,MAX in bp "
                        "(default 2,10)")
    parser.add_argument("--genome-seqs", type=int, default=500,
                        help="test sequences written to genome.fa (default 500)")
    parser.add_argument("--destroy-width", type=int, default=1,
                        help="bases changed per destroying/control variant: 1 = SNV at the "
                             "motif's most informative position (default); k > 1 = MNV over "
                             "its most informative k-bp block")
    parser.add_argument("--no-variants", action="store_true",
                        help="do not write variants.vcf / variants_truth.tsv")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        gap = tuple(int(v) for v in args.gap.split(","))
    except ValueError:
        gap = ()
    if len(gap) != 2:
        raise ValueError(f"--gap {args.gap!r}: expected MIN,MAX such as 2,10")
    names = [n.strip() for n in args.motif_names.split(",")] if args.motif_names else None
    meta = simulate_dataset(
        args.out, n_tasks=args.n_tasks, n_grammar=args.n_grammar, n_train=args.n_train,
        n_valid=args.n_valid, n_test=args.n_test, seq_len=args.seq_len, seed=args.seed,
        motifs_path=args.motifs, motif_names=names, p_motif=args.p_motif, gap=gap,
        genome_seqs=args.genome_seqs, variants=not args.no_variants,
        destroy_width=args.destroy_width,
        overwrite=args.overwrite, command=command_line(args.argv))
    targets = ", ".join(t["target"] for t in meta["tasks"])
    print(f"wrote {args.out}: {meta['splits']} sequences of {meta['sequence_length']} bp; "
          f"tasks: {targets}", file=sys.stderr)
    return 0
