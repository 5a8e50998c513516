"""``tbvar-train`` command line: each sub-command module registers its own parser.

A sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed arguments, returning an exit code).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tbvar.version import __version__

SUBCOMMAND_MODULES: tuple[str, ...] = (
    "tbvar_train.fetch", "tbvar_train.deepsea", "tbvar_train.prepare", "tbvar_train.simulate",
    "tbvar_train.simgenome", "tbvar_train.fit_cli", "tbvar_train.evaluate",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``tbvar-train`` argument parser with every registered sub-command."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="tbvar-train",
        description="Train TBiNet models (and the DanQ/DeepSEA baselines) for tbvar: get or "
                    "make training data, fit on a GPU or CPU, evaluate per task.")
    parser.add_argument("--version", action="version", version=f"tbvar-train {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tbvar-train``."""
    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:
        print(f"tbvar-train: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
