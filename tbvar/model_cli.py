"""``tbvar model ...`` sub-commands: info, list, fetch, import-keras."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tbvar.architectures import architecture
from tbvar.checkpoint import ModelInfo, read_model_info
from tbvar.download import ProgressBar
from tbvar.errors import DownloadError
from tbvar.model import RECURRENT_ACTIVATIONS
from tbvar.registry import (
    DEFAULT_MODEL,
    RegistryEntry,
    fetch_model,
    installed_path,
    is_installed,
    load_registry,
    manual_instructions,
)
from tbvar.tasks import task_labels


def _print_info(label: str, info: ModelInfo) -> None:
    config = info.config
    print(f"model file      {label}")
    print(f"description     {info.description or '-'}")
    if info.random_weights:
        print("WEIGHTS         RANDOM (untrained): predictions are meaningless; "
              "for tests and demos only")
    print(f"genome build    {info.genome_build}")
    bins = f"; {config.n_bins} attention bins" if architecture(info.arch).has_attention else ""
    print(f"sequence length {config.sequence_length} (one-hot A,G,C,T{bins})")
    sizes = ", ".join(f"{key} {value}" for key, value in config.to_dict().items()
                      if key not in ("sequence_length", "n_tasks"))
    print(f"architecture    {info.arch}: {sizes}; {config.n_tasks} tasks")
    print(f"task source     {info.task_source or '-'}")
    labels = task_labels(info.tasks)
    shown = ", ".join(labels[:5]) + (", ..." if len(labels) > 5 else "")
    print(f"tasks           {len(labels)}: {shown}")
    for line in _readable(info.provenance):
        print(f"provenance      {line}")


def _readable(value: object, depth: int = 0) -> list[str]:
    """Nested provenance as indented ``key: value`` lines (lists of scalars on one line)."""
    pad = "  " * depth
    if isinstance(value, dict):
        lines = []
        for key, item in sorted(value.items()):
            nested = isinstance(item, dict) or (isinstance(item, list) and any(
                isinstance(x, (dict, list)) for x in item))
            lines += ([f"{pad}{key}:", *_readable(item, depth + 1)] if nested
                      else [f"{pad}{key}: {_scalar(item)}"])
        return lines
    if isinstance(value, list):
        return [line for item in value for line in
                [f"{pad}-", *_readable(item, depth + 1)]]
    return [f"{pad}{_scalar(value)}"]


def _scalar(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "-" if value is None else str(value)


def _print_entry(entry: RegistryEntry, installed: bool) -> None:
    print(f"registry name   {entry.name}{' (default)' if entry.name == DEFAULT_MODEL else ''}")
    print(f"description     {entry.description}")
    print(f"source          {entry.manual_url or entry.urls[0]}")
    print(f"file            {entry.filename} (converter: {entry.converter})")
    print(f"sha256          {entry.sha256 or 'not published (recorded at install)'}")
    print(f"licence         {entry.licence}")
    print(f"citation        {entry.citation}")
    hint = f"no - run `tbvar model fetch {entry.name}`"
    print(f"installed       {'yes' if installed else hint}")


def _info(args: argparse.Namespace) -> int:
    path = Path(args.model).expanduser()
    if path.is_file():
        with open(path, "rb") as handle:
            keras = handle.read(8) == b"\x89HDF\r\n\x1a\n"
        if keras:
            from tbvar.keras_import import read_keras_tbinet

            info = read_keras_tbinet(path).info()
            label = f"{args.model} (Keras file, not converted)"
        else:
            info, label = read_model_info(path), args.model
        if args.json:
            print(json.dumps(info.to_json(), indent=2))
        else:
            _print_info(label, info)
        return 0
    registry = load_registry()
    if args.model not in registry:
        raise ValueError(f"{args.model}: no such model file or registry name "
                         f"(registry models: {', '.join(sorted(registry))})")
    entry = registry[args.model]
    installed = is_installed(entry)
    info = read_model_info(installed_path(entry.name)) if installed else None
    if args.json:
        print(json.dumps({"registry": entry.to_dict(), "installed": installed,
                          "model": info.to_json() if info else None}, indent=2))
        return 0
    _print_entry(entry, installed)
    if info is not None:
        _print_info(str(installed_path(entry.name)), info)
    return 0


def _list(args: argparse.Namespace) -> int:
    registry = load_registry()
    rows = [(entry, is_installed(entry)) for entry in registry.values()]
    if args.json:
        print(json.dumps([{**entry.to_dict(), "installed": installed,
                           "path": str(installed_path(entry.name))} for entry, installed in rows],
                         indent=2))
        return 0
    print(f"{'name':<16}{'installed':<11}{'converter':<11}description")
    for entry, installed in rows:
        name = entry.name + ("*" if entry.name == DEFAULT_MODEL else "")
        print(f"{name:<16}{'yes' if installed else 'no':<11}{entry.converter:<11}"
              f"{entry.description}")
    print(f"(* default model; installed models live in {installed_path('x').parent})")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    registry = load_registry()
    entry = registry.get(args.name)
    try:
        with ProgressBar() as progress:
            path = fetch_model(args.name, registry=registry, source_file=args.file,
                               force=args.force, progress=progress)
    except (ValueError, DownloadError) as exc:
        if entry is not None and args.file is None:
            raise ValueError(f"{exc}; to install it by hand, {manual_instructions(entry)}"
                             ) from None
        raise
    info = read_model_info(path)
    print(f"installed {args.name}: {path}")
    source = info.provenance.get("source_sha256")
    if source:
        known = "matches the registry" if entry and entry.sha256 else "not published; recorded"
        print(f"source sha256 {source} ({known})")
    return 0


def _import_keras(args: argparse.Namespace) -> int:
    from tbvar.keras_import import import_keras

    _, info = import_keras(args.keras_file, args.output, sequence_length=args.sequence_length,
                           pool_size=args.pool_size,
                           recurrent_activation=args.recurrent_activation)
    config = info.config
    print(f"wrote {args.output}: TBiNet L={config.sequence_length}, {config.n_kernels} kernels, "
          f"BiLSTM {config.lstm_units} ({config.recurrent_activation}), {config.n_tasks} tasks; "
          f"Keras {info.provenance['keras_version']} {info.provenance['keras_backend']} "
          f"(conv kernels {'flipped' if info.provenance['conv_kernel_flipped'] else 'as is'}); "
          f"source sha256 {info.provenance['source_sha256']}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``model`` command group."""
    model = subparsers.add_parser("model", help="inspect, fetch and import models")
    commands = model.add_subparsers(dest="model_command", required=True)

    info = commands.add_parser("info", help="print a model's metadata")
    info.add_argument("model", help="registry name, tbvar .safetensors or Keras .h5 file")
    info.add_argument("--json", action="store_true", help="print the raw JSON metadata")
    info.set_defaults(func=_info)

    listing = commands.add_parser("list", help="list registry models and whether installed")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=_list)

    fetch = commands.add_parser(
        "fetch", help="download, verify and install a registry model in the cache")
    fetch.add_argument("name", help="registry name (see `tbvar model list`)")
    fetch.add_argument("--file", help="install from this local copy of the published file "
                                      "instead of downloading it")
    fetch.add_argument("--force", action="store_true", help="replace an installed copy")
    fetch.set_defaults(func=_fetch)

    keras = commands.add_parser(
        "import-keras", help="convert a Keras TBiNet .h5/.hdf5 file to a tbvar model")
    keras.add_argument("keras_file", help="Keras HDF5 file (full model or weights only)")
    keras.add_argument("-o", "--output", required=True, help="output .safetensors file")
    keras.add_argument("--sequence-length", type=int, default=None,
                       help="weights-only files: input length (default: from the shapes)")
    keras.add_argument("--pool-size", type=int, default=None,
                       help="weights-only files: max-pool size (default 13)")
    keras.add_argument("--recurrent-activation", choices=RECURRENT_ACTIVATIONS, default=None,
                       help="weights-only files: LSTM gate activation (default hard_sigmoid)")
    keras.set_defaults(func=_import_keras)
