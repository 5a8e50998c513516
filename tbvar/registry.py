"""Model registry: named published models, a download cache, and ``--model`` resolution.

Registry entries say where a model comes from (source URLs, expected SHA-256 where known,
converter ``keras`` or ``tbvar``, licence, citation). Installed models are tbvar
``.safetensors`` files in ``$TBVAR_CACHE/models`` (default: the user cache directory):
``<name>.safetensors`` for registry models and ``keras/<sha256>.safetensors`` for Keras files
converted on the fly. ``$TBVAR_REGISTRY`` may name a JSON file ``{"models": [{...}, ...]}``
whose entries add to or replace the built-in ones (same field names as :class:`RegistryEntry`).

Downloads go to a temporary file in the cache directory; an interrupted transfer is resumed
with an HTTP ``Range`` request (or restarted when the server ignores ranges) a few times, the
SHA-256 is checked when the registry knows it, and only a complete, verified and converted
model is renamed into place: failures leave no file behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from tbvar.atomic import atomic_write
from tbvar.cache import default_cache_dir
from tbvar.checkpoint import file_sha256, load_model, read_model_info, save_model
from tbvar.download import Progress, download_to
from tbvar.errors import DownloadError, ModelFileError, OfflineError

REGISTRY_ENV = "TBVAR_REGISTRY"
DEFAULT_MODEL = "tbinet"
CONVERTERS = ("keras", "tbvar")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DRIVE_ID = "16bDDb9N3NOCngERRxfR9eJDvZAbs1pBl"


class RegistryError(ValueError):
    """A model name cannot be resolved, fetched or installed."""


class ChecksumError(RegistryError):
    """A downloaded or given file does not have the registry's SHA-256."""


@dataclass(frozen=True)
class RegistryEntry:
    """One named model.

    ``sha256`` is the published file's hash (``None`` where nobody published one: the file is
    then validated by conversion and its hash recorded in the installed model's provenance).
    """

    name: str
    description: str
    urls: tuple[str, ...]
    filename: str
    converter: str
    sha256: str | None
    licence: str
    citation: str
    homepage: str = ""
    manual_url: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise RegistryError(f"registry entry name {self.name!r} is not a plain name")
        if self.converter not in CONVERTERS:
            raise RegistryError(f"registry entry {self.name}: converter {self.converter!r} "
                                f"is not one of {CONVERTERS}")
        if self.sha256 is not None and not _SHA256.match(self.sha256):
            raise RegistryError(f"registry entry {self.name}: sha256 must be 64 lower-case hex "
                                "digits or null")
        if not self.urls or not all(isinstance(u, str) and u for u in self.urls):
            raise RegistryError(f"registry entry {self.name}: no source URL")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegistryEntry:
        """Build from a JSON object with the dataclass' field names."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RegistryError(f"registry entry {data.get('name')!r}: unknown fields {unknown}")
        try:
            return cls(**{**data, "urls": tuple(data.get("urls", ()))})
        except TypeError as exc:
            raise RegistryError(f"registry entry {data.get('name')!r}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation."""
        return {**asdict(self), "urls": list(self.urls)}


TBINET = RegistryEntry(
    name="tbinet",
    description=("TBiNet trained by its authors on the DeepSEA data (690 TF ChIP-seq tasks, "
                 "hg19, 1000 bp); the published Keras 2.2.4 / Theano file tbinet_best.hdf5"),
    urls=(f"https://drive.usercontent.google.com/download?id={_DRIVE_ID}&export=download"
          "&confirm=t",
          f"https://drive.google.com/uc?export=download&id={_DRIVE_ID}&confirm=t"),
    filename="tbinet_best.hdf5",
    converter="keras",
    sha256=None,
    licence=("none stated by the authors (github.com/dmis-lab/tbinet has no licence file); "
             "tbvar does not redistribute the weights, it downloads them from the authors' link"),
    citation=("Park S, Koh Y, Jeon H, Kim H, Yeo Y, Kang J. Enhancing the interpretability of "
              "transcription factor binding site prediction using attention mechanism. "
              "Sci Rep 10, 13413 (2020). doi:10.1038/s41598-020-70218-4"),
    homepage="https://github.com/dmis-lab/tbinet",
    manual_url=f"https://drive.google.com/open?id={_DRIVE_ID}",
)
BUILTIN_ENTRIES = (TBINET,)


def load_registry(path: str | os.PathLike[str] | None = None) -> dict[str, RegistryEntry]:
    """Built-in entries, extended/overridden by the JSON file ``path`` or ``$TBVAR_REGISTRY``."""
    entries = {entry.name: entry for entry in BUILTIN_ENTRIES}
    path = path or os.environ.get(REGISTRY_ENV)
    if not path:
        return entries
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        items = doc["models"]
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read the model registry ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise RegistryError(f"{path}: not a model registry JSON {{'models': [...]}} ({exc!r})"
                            ) from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise RegistryError(f"{path}: 'models' must be a list of objects")
    for item in items:
        try:
            entry = RegistryEntry.from_dict(item)
        except RegistryError as exc:
            raise RegistryError(f"{path}: {exc}") from None
        entries[entry.name] = entry
    return entries


def models_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where installed models live: ``cache_dir`` or ``$TBVAR_CACHE`` / user cache, + models."""
    return Path(cache_dir) / "models" if cache_dir else default_cache_dir() / "models"


def installed_path(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the installed registry model ``name`` (which may not exist yet)."""
    return models_dir(cache_dir) / f"{name}.safetensors"


def manual_instructions(entry: RegistryEntry) -> str:
    """One line telling a person how to install ``entry`` by hand."""
    where = entry.manual_url or entry.urls[0]
    text = (f"download {entry.filename} from {where}, then run "
            f"`tbvar model fetch {entry.name} --file {entry.filename}`")
    if entry.converter == "keras":
        text += (f" (or `tbvar model import-keras {entry.filename} -o {entry.name}.safetensors`"
                 f" and pass --model {entry.name}.safetensors)")
    return text


def download(url: str, directory: str | os.PathLike[str], *,
             progress: Progress | None = None) -> Path:
    """Download ``url`` into a new temporary file in ``directory`` and return its path.

    Transfers resume and retry as :func:`tbvar.download.download_to` does. On any failure the
    temporary file is removed (nothing partial is left in the cache) and
    :class:`tbvar.errors.DownloadError` is raised; the caller owns the returned file.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=directory)
    os.close(handle)
    part = Path(name)
    try:
        download_to(url, part, progress=progress)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return part


def _download_entry(entry: RegistryEntry, directory: Path,
                    progress: Progress | None) -> tuple[Path, str]:
    errors = []
    for url in entry.urls:
        try:
            return download(url, directory, progress=progress), url
        except DownloadError as exc:
            errors.append(exc)
    # every source unreachable: the machine is offline (OfflineError); else a download failed
    offline = all(isinstance(exc, OfflineError) for exc in errors)
    raise (OfflineError if offline else DownloadError)("; ".join(map(str, errors)))


def _install(entry: RegistryEntry, source: Path, url: str | None, target: Path) -> None:
    """Convert / validate ``source`` and write it atomically to ``target``."""
    if entry.converter == "keras":
        from tbvar.keras_import import read_keras_tbinet

        keras = read_keras_tbinet(source)
        info = keras.info()
        info.description = entry.description
        info.provenance.update(source_file=entry.filename if url else source.name,
                               registry_name=entry.name, source_url=url or "local file",
                               licence=entry.licence, citation=entry.citation)
        save_model(keras.model(), target, info)
        return
    load_model(source)  # validates metadata and every tensor
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


def _entry(name: str, registry: dict[str, RegistryEntry] | None) -> RegistryEntry:
    registry = load_registry() if registry is None else registry
    if name not in registry:
        raise RegistryError(f"unknown model {name!r}; registry models: "
                            f"{', '.join(sorted(registry)) or 'none'} (see `tbvar model list`)")
    return registry[name]


def is_installed(entry: RegistryEntry, cache_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether a valid installed copy of ``entry`` (matching its SHA-256, if known) exists."""
    target = installed_path(entry.name, cache_dir)
    if not target.is_file():
        return False
    try:
        info = read_model_info(target)
    except ModelFileError:
        return False
    if entry.sha256 is None:
        return True
    source = (info.provenance.get("source_sha256") if entry.converter == "keras"
              else file_sha256(target))
    return source == entry.sha256


def fetch_model(name: str, *, cache_dir: str | os.PathLike[str] | None = None,
                registry: dict[str, RegistryEntry] | None = None,
                source_file: str | os.PathLike[str] | None = None, force: bool = False,
                progress: Progress | None = None) -> Path:
    """Install registry model ``name`` in the cache (download, verify, convert) and return it.

    Parameters
    ----------
    name
        Registry name (see :func:`load_registry`).
    cache_dir
        Cache root (default ``$TBVAR_CACHE`` or the user cache directory).
    registry
        Registry to use instead of :func:`load_registry`.
    source_file
        Install from this local copy of the published file instead of downloading it.
    force
        Replace an installed copy.
    progress
        ``progress(bytes_done, bytes_total_or_None)`` during downloads.

    Raises
    ------
    DownloadError
        Offline or the download failed (nothing is left in the cache).
    ChecksumError
        The file's SHA-256 differs from the registry's (the file is discarded).
    ModelFileError
        The file is not a valid model of the entry's kind.
    """
    entry = _entry(name, registry)
    target = installed_path(entry.name, cache_dir)
    if source_file is None and not force and is_installed(entry, cache_dir):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if source_file is not None:
        source, url = Path(source_file), None
        if not source.is_file():
            raise RegistryError(f"{source}: no such file")
    else:
        source, url = _download_entry(entry, target.parent, progress)
    try:
        digest = file_sha256(source)
        if entry.sha256 is not None and digest != entry.sha256:
            raise ChecksumError(f"{url or source}: SHA-256 {digest} does not match the "
                                f"registry's {entry.sha256} for {entry.name!r}; file refused "
                                "and not kept")
        _install(entry, source, url, target)
    finally:
        if url is not None:
            source.unlink(missing_ok=True)
    return target


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def converted_keras_path(path: str | os.PathLike[str],
                         cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The tbvar model converted from Keras file ``path``, cached by the file's SHA-256."""
    from tbvar.keras_import import import_keras

    target = models_dir(cache_dir) / "keras" / f"{file_sha256(path)}.safetensors"
    if target.is_file():
        try:
            read_model_info(target)
            return target
        except ModelFileError:
            pass  # damaged cache entry: convert again
    target.parent.mkdir(parents=True, exist_ok=True)
    import_keras(path, target)
    return target


def resolve_model(spec: str | os.PathLike[str] | None, *,
                  cache_dir: str | os.PathLike[str] | None = None,
                  registry: dict[str, RegistryEntry] | None = None,
                  progress: Progress | None = None) -> Path:
    """Path of the tbvar model file meant by ``spec`` (what ``--model`` accepts).

    Parameters
    ----------
    spec
        ``None`` (the default published model, :data:`DEFAULT_MODEL`), a registry name
        (installed on first use), a ``.safetensors`` model file, or a Keras HDF5 file
        (converted once and cached by its SHA-256).

    Raises
    ------
    RegistryError
        Unknown name, missing file, or a registry model that is neither installed nor
        downloadable (the message says exactly how to install it by hand).
    """
    spec = DEFAULT_MODEL if spec is None else os.fspath(spec)
    path = Path(spec).expanduser()
    if path.is_file():
        return converted_keras_path(path, cache_dir) if _is_hdf5(path) else path
    registry = load_registry() if registry is None else registry
    if spec not in registry:
        if path.suffix in (".safetensors", ".h5", ".hdf5") or os.sep in spec:
            raise RegistryError(f"{spec}: no such model file")
        raise RegistryError(f"unknown model {spec!r}: not a file and not a registry name "
                            f"(registry models: {', '.join(sorted(registry))}; see "
                            "`tbvar model list`)")
    entry = registry[spec]
    try:
        return fetch_model(spec, cache_dir=cache_dir, registry=registry, progress=progress)
    except DownloadError as exc:
        default = " (the default model)" if spec == DEFAULT_MODEL else ""
        raise type(exc)(
            f"model {spec!r}{default} is not installed in {models_dir(cache_dir)} and could "
            f"not be downloaded ({exc}); to install it by hand, {manual_instructions(entry)}"
        ) from None
