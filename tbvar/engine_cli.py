"""Command-line pieces shared by ``tbvar score`` and ``tbvar calibrate``: the options of the
scoring engine, their translation to API settings, model resolution, and interruption.

Ctrl-C and SIGTERM stop a run with one line on stderr (exit 130 / 143) and no output file;
finished work stays in ``OUTPUT.partial/`` for ``--resume``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from tbvar.download import ProgressBar
from tbvar.options import AUTO, ENGINES, MAX_HOST_WORKERS
from tbvar.registry import resolve_model
from tbvar.scoring import PRECISIONS
from tbvar.variants import REF_MISMATCH_POLICIES

T = TypeVar("T")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def positive(text: str) -> int:
    """argparse type: a positive integer."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def batch_size(text: str) -> int | str:
    """argparse type: a positive integer or ``auto``."""
    return AUTO if text == AUTO else positive(text)


def add_engine_options(parser: argparse.ArgumentParser, chunked: bool = True) -> None:
    """The options of the scoring engine: genome, model, device, precision, input policies,
    and (``chunked``: runs over a VCF) input sanity, chunks, resume and progress lines."""
    parser.add_argument("--genome", required=True, help="reference FASTA (plain or bgzip)")
    parser.add_argument("--model", help="registry name (see `tbvar model list`), tbvar "
                        ".safetensors (any architecture) or Keras .h5 file (default: the "
                        "published TBiNet, 'tbinet', installed in the cache on first use)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=batch_size, default=128, help="variants per "
                        "forward pass (default 128; each variant is 4 sequences with RC), or "
                        "auto: from the GPU's free memory (128 on the CPU)")
    parser.add_argument("--precision", choices=tuple(PRECISIONS), default="fp32")
    parser.add_argument("--anchor", choices=("center", "deepsea"), default="center",
                        help="window placement: center (the first REF base at index L/2, "
                        "default) or deepsea (L/2 - 1, as DeepSEA, ExPecto and Selene; "
                        "reproduces their numbers)")
    parser.add_argument("--no-rc", action="store_true", help="forward strand only (no "
                        "reverse-complement averaging)")
    parser.add_argument("--max-allele-length", type=int, default=100, help="longer REF/ALT "
                        "get status too_long (default 100)")
    parser.add_argument("--ref-mismatch", choices=REF_MISMATCH_POLICIES, default="skip",
                        help="REF differs from the genome: skip (status ref_mismatch, "
                        "default), flip (if the ALT matches the genome, score with REF and ALT "
                        "swapped, flagged 'swapped'; else skip) or use-vcf (score the VCF's "
                        "REF)")
    parser.add_argument("--contig-map", metavar="FILE", help="two-column TSV: VCF contig, "
                        "FASTA contig; used before automatic name harmonisation (chr1/1, "
                        "chrM/MT, GL000192.1/chr1_gl000192_random)")
    if chunked:
        parser.add_argument("--strict", action="store_true", help="stop with an error "
                            "(writing nothing) when most alleles are on unknown contigs "
                            "(>= 50%%) or many REF alleles differ from the genome (>= 10%%), "
                            "instead of a warning")
        parser.add_argument("--resume", action="store_true", help="continue an interrupted "
                            "run into the same output, reusing the finished work in "
                            "OUTPUT.partial/ (the output is byte-identical to an uninterrupted "
                            "run)")
        parser.add_argument("--chunk-size", type=positive, default=1024, help="records per "
                            "chunk: the unit of memory use and of --resume (default 1024)")
        parser.add_argument("--progress-interval", type=float, default=30.0,
                            metavar="SECONDS", help="when stderr is not a terminal (a batch "
                            "job's log), a progress line every SECONDS (default 30)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """Where the scoring stage runs: this process (with host worker processes,
    :mod:`tbvar.host_engine`) or a Ray cluster (:mod:`tbvar.ray_engine`)."""
    parser.add_argument("--host-workers", type=positive, metavar="N", help="processes that "
                        "prepare, summarise, encode and save chunks while this process runs "
                        "the model; the output is the same, byte for byte (default: 1 on the "
                        "CPU, on a GPU the usable cores minus one, at most "
                        f"{MAX_HOST_WORKERS})")
    group = parser.add_argument_group("cluster (Ray)")
    group.add_argument("--engine", choices=ENGINES, default="local", help="where the model "
                       "runs: this process (default) or the workers of a Ray cluster (pip "
                       "install 'tbvar[ray]'); the output is the same, byte for byte")
    group.add_argument("--ray-address", metavar="ADDRESS", help="the Ray cluster to join: "
                       "auto (the one `ray start` runs here) or HOST:PORT (default: "
                       "RAY_ADDRESS, else a new local cluster)")
    group.add_argument("--workers", type=positive, help="Ray workers, one model each "
                       "(default: one per GPU of the cluster, or one per CPU core without "
                       "GPUs)")
    group.add_argument("--gpus-per-worker", type=float, metavar="G", help="GPUs per Ray "
                       "worker (default 1 when the workers run on CUDA; 0.5: two share a GPU)")


#: Cluster options (:func:`add_cluster_options`) with a value; like ``--resume`` they do not
#: change the output, so the recorded command leaves them out.
CLUSTER_OPTIONS = ("--engine", "--ray-address", "--workers", "--gpus-per-worker",
                   "--host-workers")


def cluster_settings(args: argparse.Namespace) -> dict[str, Any]:
    """API settings of :func:`add_cluster_options`' options (the given ones)."""
    given = {"ray_address": args.ray_address, "workers": args.workers,
             "gpus_per_worker": args.gpus_per_worker, "host_workers": args.host_workers}
    return {"engine": args.engine, **{k: v for k, v in given.items() if v is not None}}


def engine_settings(args: argparse.Namespace) -> dict[str, Any]:
    """API settings (:mod:`tbvar.options` fields) of :func:`add_engine_options`' options."""
    settings = {
        "device": args.device, "batch_size": args.batch_size, "precision": args.precision,
        "reverse_complement": not args.no_rc, "max_allele_length": args.max_allele_length,
        "anchor": args.anchor,
        "ref_mismatch": args.ref_mismatch, "contig_map": args.contig_map,
        "progress": not args.quiet,
        "notify": (lambda text: print(f"tbvar: {text}", file=sys.stderr))
        if not args.quiet else None,
    }
    if "chunk_size" in vars(args):
        settings.update(chunk_size=args.chunk_size, resume=args.resume, strict=args.strict,
                        progress_interval=args.progress_interval)
    return settings


def resolve_model_arg(args: argparse.Namespace) -> str:
    """The ``--model`` file, downloading a registry model (with a progress bar) if needed."""
    with ProgressBar(enabled=None if not args.quiet else False) as bar:
        return str(resolve_model(args.model, progress=bar))


def interruptible(work: Callable[[], T], output: str) -> T | int:
    """Run ``work`` with SIGTERM handled like Ctrl-C: on either, one line on stderr and the
    exit status (130 or 143) instead of a result."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return work()
    except KeyboardInterrupt as exc:
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"tbvar: {what}; no output written; finished work is kept in {output}.partial "
              "(rerun with --resume to continue)", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
