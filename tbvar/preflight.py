"""Checks made before any work starts: inputs exist, outputs can be written, and no output
would overwrite an input (or another output).

The CLI runs them before it resolves (and perhaps downloads) a model, so a mistyped path is
reported at once; ``write_run`` runs :func:`check_outputs` again for API callers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

PathLike = str | os.PathLike[str]


def check_inputs(inputs: Mapping[str, PathLike | None]) -> None:
    """Every given input (``{what: path}``, e.g. ``{"input VCF": "in.vcf"}``) is a file."""
    for what, path in inputs.items():
        if path is None:
            continue
        if not os.path.exists(path):
            raise OSError(f"{path}: no such {what} file")
        if os.path.isdir(path):
            raise OSError(f"{path}: is a directory, not a {what} file")


def check_outputs(outputs: Iterable[PathLike], inputs: Iterable[PathLike | None] = (),
                  directories: Iterable[PathLike] = ()) -> None:
    """Outputs go to existing directories, differ from each other and from every input, and
    are not directories — except those in ``directories`` (outputs that are directories, such
    as a Parquet dataset), which are directories if they exist."""
    paths = [Path(p) for p in outputs]
    dirs = {Path(p) for p in directories}
    for path in paths:
        if not path.parent.is_dir():
            raise OSError(f"{path}: output directory {path.parent} does not exist")
        if path in dirs:
            if path.exists() and not path.is_dir():
                raise OSError(f"{path}: exists and is not a directory (a Parquet dataset is one)")
        elif path.is_dir():
            raise OSError(f"{path}: is a directory")
    if len({p.resolve() for p in paths}) != len(paths):
        raise ValueError(f"output files must differ: {', '.join(map(str, paths))}")
    for source in inputs:
        if source is None or not os.path.exists(source):
            continue
        for path in paths:
            same = path.resolve() == Path(source).resolve() or (
                path.exists() and os.path.samefile(path, source)) or (
                path in dirs and Path(source).resolve().is_relative_to(path.resolve()))
            if same:
                raise ValueError(f"{path}: output would overwrite the input {source}; "
                                 "choose another output name")


def check_output_directory(directory: PathLike, overwrite: bool,
                           inputs: Iterable[PathLike | None] = ()) -> None:
    """A directory to create: absent, or with ``overwrite`` a directory holding no input."""
    path = Path(directory)
    if not path.exists():
        return
    if not overwrite:
        raise FileExistsError(f"{path}: already exists (remove it or pass --overwrite)")
    if not path.is_dir():
        raise FileExistsError(f"{path}: is a file, not a directory to replace")
    for source in inputs:
        if source is not None and os.path.exists(source) and \
                Path(source).resolve().is_relative_to(path.resolve()):
            raise ValueError(f"{path}: replacing it would delete the input {source}; choose "
                             "another output directory")
