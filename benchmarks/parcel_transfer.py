"""CPU cost of handing a chunk's scores to another process: pickled through a
``multiprocessing.Queue`` (pipes) vs as a :class:`tbvar.parcels.Parcel` (a file in shared
memory), interleaved.

Each message is a fresh ``VariantScores`` of ``--variants`` variants × ``--tasks`` tasks
(REF, ALT and attention, float32), as ``Scorer.score`` makes one per chunk. A forked receiver
takes ``--messages`` of them and touches one value of each. Prints one JSON document: per way,
the sender's and the receiver's CPU µs per variant (sender: this process, copy of the arrays
included; receiver: its ``RUSAGE_SELF``) and the wall seconds, medians over ``--repeats``.

Usage::

    python benchmarks/parcel_transfer.py [--variants 1024] [--tasks 690] [--messages 60]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import time

import numpy as np

from tbvar.parcels import pack, parcel_directory, unpack
from tbvar.scores import VariantScores


def _receiver(way: str, messages: int, inbox, done) -> None:
    for _ in range(messages):
        item = inbox.get()
        scores = unpack(item) if way == "parcel" else item
        float(scores.ref[0, 0])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    done.put(usage.ru_utime + usage.ru_stime)


def transfer(way: str, scores: VariantScores, messages: int) -> dict[str, float]:
    """One run of ``messages`` messages sent ``way`` (``queue`` or ``parcel``)."""
    context = multiprocessing.get_context("fork")
    inbox, done = context.Queue(), context.Queue()
    directory = parcel_directory()
    receiver = context.Process(target=_receiver, args=(way, messages, inbox, done))
    receiver.start()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(messages):
        fresh = VariantScores(ref=scores.ref.copy(), alt=scores.alt.copy(),
                              ref_attention=scores.ref_attention.copy(),
                              alt_attention=scores.alt_attention.copy())
        inbox.put(pack(fresh, directory) if way == "parcel" else fresh)
    receiver_cpu = done.get()
    receiver.join()
    sent_cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    directory.rmdir()
    n = messages * len(scores.ref)
    return {"sender_us_per_variant": sent_cpu / n * 1e6,
            "receiver_us_per_variant": receiver_cpu / n * 1e6, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=1024)
    parser.add_argument("--tasks", type=int, default=690)
    parser.add_argument("--bins", type=int, default=75)
    parser.add_argument("--messages", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape, bins = (args.variants, args.tasks), (args.variants, args.bins)
    scores = VariantScores(ref=rng.random(shape, dtype=np.float32),
                           alt=rng.random(shape, dtype=np.float32),
                           ref_attention=rng.random(bins, dtype=np.float32),
                           alt_attention=rng.random(bins, dtype=np.float32))
    runs: dict[str, list[dict[str, float]]] = {"queue": [], "parcel": []}
    for repeat in range(args.repeats):
        for way in ("queue", "parcel") if repeat % 2 == 0 else ("parcel", "queue"):
            runs[way].append(transfer(way, scores, args.messages))
    results = {way: {key: round(statistics.median(run[key] for run in done), 3)
                     for key in done[0]} for way, done in runs.items()}
    print(json.dumps({"benchmark": "parcel_transfer", "variants": args.variants,
                      "tasks": args.tasks, "bytes_per_message": int(
                          2 * scores.ref.nbytes + 2 * scores.ref_attention.nbytes),
                      "messages": args.messages, "repeats": args.repeats,
                      "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "results": results},
                     indent=2))


if __name__ == "__main__":
    main()
