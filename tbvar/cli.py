"""``tbvar`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tbvar import calibrate_cli, explain_cli, model_cli, motifs_cli, report_cli, score_cli
from tbvar.version import __version__


def build_parser() -> argparse.ArgumentParser:
    """The ``tbvar`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="tbvar", description="Score genetic variants with TBiNet (Park et al. 2020).")
    parser.add_argument("--version", action="version", version=f"tbvar {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    score_cli.register(subparsers)
    calibrate_cli.register(subparsers)
    explain_cli.register(subparsers)
    report_cli.register(subparsers)
    model_cli.register(subparsers)
    motifs_cli.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tbvar``: errors become one line on stderr and exit status 1."""
    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("tbvar: interrupted; no partial output was left", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the exit-time flush quiet
        return 0
    except (ValueError, OSError, KeyError, ModuleNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"tbvar: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
