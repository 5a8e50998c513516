"""``tbvar-train fetch deepsea``: download and unpack DeepSEA's training bundle.

The tarball (``deepsea_train_bundle.v0.9.tar.gz``, ~3.4 GB, published by the DeepSEA authors)
is downloaded to ``OUT/<name>.part`` with a progress bar; an interrupted download resumes from
the partial file with an HTTP ``Range`` request (retried automatically, or on the next run).
When complete (and, if given, its sha256 matches) the archive is checked member by member
(regular files and directories only, no absolute paths, no ``..``), extracted into a temporary
directory inside ``OUT`` and its top-level entries are renamed into place.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from tbvar.checkpoint import file_sha256
from tbvar.download import ProgressBar, download_to
from tbvar.errors import DownloadError

DEEPSEA_URL = "http://deepsea.princeton.edu/media/code/deepsea_train_bundle.v0.9.tar.gz"


class FetchError(OSError):
    """A download or unpack step failed (the message says what to do)."""


def download(url: str, dest: str | os.PathLike[str], sha256: str | None = None,
             retries: int = 3, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` via ``dest.part`` with resume; returns ``dest``.

    Interrupted transfers are resumed up to ``retries`` times, and by a later call: the
    partial file is kept (:func:`tbvar.download.download_to`). A sha256 mismatch removes the
    partial file and raises :class:`FetchError`. An existing complete ``dest`` (matching
    ``sha256`` when given) is not downloaded again.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if dest.is_file() and (not sha256 or file_sha256(dest) == sha256.lower()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with ProgressBar(part.name.removesuffix(".part"), enabled=progress) as bar:
            download_to(url, part, retries=retries, progress=bar)
    except DownloadError as exc:
        hint = (f"run again to resume from {part}" if part.exists() and part.stat().st_size
                else f"download it elsewhere and place it at {dest}, or pass --url")
        raise FetchError(f"{exc}; {hint}") from None
    if sha256:
        digest = file_sha256(part)
        if digest != sha256.lower():
            part.unlink()
            raise FetchError(f"{url}: sha256 {digest} does not match the expected {sha256}; "
                             "the partial file was removed")
    os.replace(part, dest)
    return dest


def _check_members(archive: Path, members: list[tarfile.TarInfo]) -> None:
    for member in members:
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or member.name.startswith("\\"):
            raise FetchError(f"{archive}: unsafe member path {member.name!r}; not unpacked")
        if not (member.isfile() or member.isdir()):
            raise FetchError(f"{archive}: member {member.name!r} is a link or special file; "
                             "not unpacked")


def unpack(archive: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Safely extract a ``.tar.gz`` into ``out_dir`` (temp directory + rename).

    Returns the top-level paths created. Existing entries of the same name are replaced.
    """
    archive, out_dir = Path(archive), Path(out_dir)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            _check_members(archive, members)
            staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=out_dir))
            try:
                safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(staging, members=members, **safe)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, FetchError):
            raise
        raise FetchError(f"{archive}: not a readable tar archive ({exc})") from None
    created = []
    for entry in sorted(staging.iterdir()):
        target = out_dir / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(entry, target)
        created.append(target)
    staging.rmdir()
    return created


def fetch_deepsea(out_dir: str | os.PathLike[str], url: str = DEEPSEA_URL,
                  sha256: str | None = None, keep_archive: bool = False,
                  force: bool = False, retries: int = 3, progress: bool = True) -> Path:
    """Download and unpack the DeepSEA bundle into ``out_dir``; returns the bundle directory."""
    from tbvar_train.deepsea import DeepSEAFormatError, find_bundle

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not force:
        try:
            return find_bundle(out_dir)
        except DeepSEAFormatError:
            pass
    name = url.rstrip("/").rsplit("/", 1)[-1] or "deepsea_train_bundle.tar.gz"
    archive = download(url, out_dir / name, sha256=sha256, retries=retries, progress=progress)
    unpack(archive, out_dir)
    try:
        bundle = find_bundle(out_dir)
    except DeepSEAFormatError as exc:
        raise FetchError(f"{archive}: unpacked, but {exc}") from None
    if not keep_archive:
        archive.unlink()
    return bundle


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``fetch`` to the ``tbvar-train`` parser."""
    parser = subparsers.add_parser(
        "fetch", help="download a training data set (DeepSEA's bundle)",
        description="Download (resumable, with progress) and unpack DeepSEA's training bundle "
                    f"(~3.4 GB) from {DEEPSEA_URL}.")
    parser.add_argument("dataset", choices=["deepsea"])
    parser.add_argument("--out", required=True, help="directory to download and unpack into")
    parser.add_argument("--url", default=DEEPSEA_URL, help="download URL (a mirror)")
    parser.add_argument("--sha256", help="expected sha256 of the tarball")
    parser.add_argument("--keep-archive", action="store_true",
                        help="keep the .tar.gz after unpacking")
    parser.add_argument("--force", action="store_true",
                        help="download even if the bundle is already unpacked in --out")
    parser.add_argument("--retries", type=int, default=3,
                        help="automatic resumes after an interrupted transfer")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    bundle = fetch_deepsea(args.out, url=args.url, sha256=args.sha256,
                           keep_archive=args.keep_archive, force=args.force,
                           retries=args.retries, progress=sys.stderr.isatty())
    print(f"DeepSEA bundle ready in {bundle}", file=sys.stderr)
    return 0
