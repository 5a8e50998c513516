"""Model registry, downloads (against a local HTTP server) and ``--model`` resolution."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

import tbvar
from tbvar import download, registry
from tbvar.checkpoint import ModelInfo, file_sha256, load_model, save_model
from tbvar.cli import main
from tbvar.errors import DownloadError
from tbvar.keras_import import import_keras
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.registry import (
    ChecksumError,
    RegistryError,
    fetch_model,
    load_registry,
    resolve_model,
)
from tbvar.tasks import generic_tasks

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF
from .keras_reference import random_weights, write_keras_file

SMALL = {"length": 58, "width": 7, "kernels": 16, "pool": 4, "units": 8, "dense": 12, "tasks": 10}


class Server:
    """A local HTTP file server that can cut transfers short and ignore ``Range``."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.truncate = 0  # cut this many responses in half
        self.honour_range = True
        self.content_type = "application/octet-stream"
        self.types: dict[str, str] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.requests.append((self.path, self.headers.get("Range")))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
                if match and server.honour_range:
                    start = int(match.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                rest = body[start:]
                self.send_header("Content-Type", server.types.get(self.path, server.content_type))
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                if server.truncate:
                    server.truncate -= 1
                    rest = rest[:len(rest) // 2]
                self.wfile.write(rest)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    instance = Server()
    yield instance
    instance.close()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("TBVAR_CACHE", str(root))
    monkeypatch.setattr(download, "RETRY_DELAY_S", 0.0)
    return root


@pytest.fixture(scope="module")
def keras_bytes(tmp_path_factory) -> bytes:
    weights = random_weights(np.random.default_rng(11), **SMALL)
    path = write_keras_file(tmp_path_factory.mktemp("k") / "small.hdf5", weights,
                            backend="theano", full_model=True, length=58, pool=4)
    return path.read_bytes()


def file_sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def use_registry(tmp_path: Path, monkeypatch, **entry: object) -> Path:
    """Point ``$TBVAR_REGISTRY`` at a JSON file holding one entry."""
    doc = {"models": [{"name": "small", "description": "small test TBiNet",
                       "filename": "small.hdf5", "converter": "keras", "sha256": None,
                       "licence": "test", "citation": "test", **entry}]}
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setenv("TBVAR_REGISTRY", str(path))
    return path


def test_fetch_converts_and_installs(tmp_path, monkeypatch, server, cache, keras_bytes):
    server.files["/small.hdf5"] = keras_bytes
    digest = file_sha256_bytes(keras_bytes)
    use_registry(tmp_path, monkeypatch, urls=[server.url("/small.hdf5")], sha256=digest)
    path = fetch_model("small")
    assert path == cache / "models" / "small.safetensors"
    assert files_under(cache) == ["models/small.safetensors"]
    model, info = load_model(path)
    assert info.provenance["source_sha256"] == digest
    assert info.provenance["registry_name"] == "small"
    assert info.provenance["source_url"] == server.url("/small.hdf5")
    assert info.description == "small test TBiNet"
    # same weights as a direct import of the same file
    source = tmp_path / "small.hdf5"
    source.write_bytes(keras_bytes)
    direct, _ = import_keras(source)
    for name, tensor in direct.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name])
    # installed copy is reused without any request
    count = len(server.requests)
    assert fetch_model("small") == path
    assert resolve_model("small") == path
    assert len(server.requests) == count


def test_checksum_mismatch_refused(tmp_path, monkeypatch, server, cache, keras_bytes):
    server.files["/small.hdf5"] = keras_bytes
    use_registry(tmp_path, monkeypatch, urls=[server.url("/small.hdf5")], sha256="0" * 64)
    with pytest.raises(ChecksumError, match="does not match the registry's 0000"):
        fetch_model("small")
    assert files_under(cache) == []


def test_interrupted_download_is_resumed(tmp_path, monkeypatch, server, cache, keras_bytes):
    server.files["/small.hdf5"] = keras_bytes
    server.truncate = 1
    use_registry(tmp_path, monkeypatch, urls=[server.url("/small.hdf5")],
                 sha256=file_sha256_bytes(keras_bytes))
    fetch_model("small")
    ranges = [r for _, r in server.requests]
    assert ranges == [None, f"bytes={len(keras_bytes) // 2}-"]
    assert files_under(cache) == ["models/small.safetensors"]


def test_interrupted_download_restarts_without_range(tmp_path, monkeypatch, server, cache,
                                                     keras_bytes):
    server.files["/small.hdf5"] = keras_bytes
    server.truncate = 2
    server.honour_range = False
    use_registry(tmp_path, monkeypatch, urls=[server.url("/small.hdf5")],
                 sha256=file_sha256_bytes(keras_bytes))
    path = fetch_model("small")
    assert len(server.requests) == 3  # two cut transfers, then a clean full one
    assert load_model(path)[1].provenance["source_sha256"] == file_sha256_bytes(keras_bytes)


def test_repeatedly_interrupted_download_leaves_nothing(tmp_path, monkeypatch, server, cache,
                                                       keras_bytes):
    server.files["/small.hdf5"] = keras_bytes
    server.truncate = 100
    use_registry(tmp_path, monkeypatch, urls=[server.url("/small.hdf5")])
    with pytest.raises(DownloadError, match="download interrupted 4 times"):
        fetch_model("small")
    assert files_under(cache) == []


def test_keyboard_interrupt_leaves_nothing(tmp_path, monkeypatch, server, cache, keras_bytes):
    server.files["/small.hdf5"] = keras_bytes
    use_registry(tmp_path, monkeypatch, urls=[server.url("/small.hdf5")])

    def interrupt(done: int, total: int | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch_model("small", progress=interrupt)
    assert files_under(cache) == []


def test_web_page_instead_of_file(tmp_path, monkeypatch, server, cache, keras_bytes):
    server.files["/small.hdf5"] = b"<html>Google Drive can't scan this file for viruses</html>"
    server.content_type = "text/html"
    use_registry(tmp_path, monkeypatch, urls=[server.url("/small.hdf5")])
    with pytest.raises(DownloadError, match="returned a web page"):
        fetch_model("small")
    assert files_under(cache) == []
    # a confirmation form that only leads to itself is not followed forever
    server.files["/small.hdf5"] = b'<form action="/small.hdf5"></form>'
    with pytest.raises(DownloadError, match="still after 2 confirmation forms"):
        fetch_model("small")
    assert files_under(cache) == []


def test_confirmation_form_is_followed(tmp_path, monkeypatch, server, cache, keras_bytes):
    # shaped like Google Drive's large-file page: a GET form with hidden fields
    server.files["/download?id=abc&export=download"] = (
        b'<html><body><p>can\'t scan this file for viruses</p>'
        b'<form id="download-form" action="/download" method="get">'
        b'<input type="submit" value="Download anyway">'
        b'<input type="hidden" name="id" value="abc">'
        b'<input type="hidden" name="confirm" value="t">'
        b'<input type="hidden" name="uuid" value="1-2"></form></body></html>')
    server.types["/download?id=abc&export=download"] = "text/html; charset=utf-8"
    server.files["/download?id=abc&confirm=t&uuid=1-2"] = keras_bytes
    use_registry(tmp_path, monkeypatch, urls=[server.url("/download?id=abc&export=download")],
                 sha256=file_sha256_bytes(keras_bytes))
    fetch_model("small")
    assert [p for p, _ in server.requests] == ["/download?id=abc&export=download",
                                               "/download?id=abc&confirm=t&uuid=1-2"]
    assert files_under(cache) == ["models/small.safetensors"]


def test_unknown_sha_recorded_and_second_url_used(tmp_path, monkeypatch, server, cache,
                                                  keras_bytes, capsys):
    server.files["/small.hdf5"] = keras_bytes
    use_registry(tmp_path, monkeypatch,
                 urls=[server.url("/missing.hdf5"), server.url("/small.hdf5")])
    assert main(["model", "fetch", "small"]) == 0
    out = capsys.readouterr().out
    assert f"source sha256 {file_sha256_bytes(keras_bytes)} (not published; recorded)" in out
    assert [p for p, _ in server.requests] == ["/missing.hdf5", "/small.hdf5"]


def test_default_model_offline_message(tmp_path, monkeypatch, cache, capsys):
    # the built-in published entry, pointed at a port where nothing listens
    dead = Server()
    url = dead.url("/tbinet_best.hdf5")
    dead.close()
    entry = registry.TBINET.to_dict()
    entry["urls"] = [url]
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"models": [entry]}))
    monkeypatch.setenv("TBVAR_REGISTRY", str(path))
    with pytest.raises(DownloadError) as excinfo:
        resolve_model(None)
    assert isinstance(excinfo.value, tbvar.OfflineError)  # catchable as "no network"
    message = str(excinfo.value)
    assert "model 'tbinet' (the default model) is not installed" in message
    assert "cannot reach" in message
    assert "drive.google.com/open?id=16bDDb9N3NOCngERRxfR9eJDvZAbs1pBl" in message
    assert "`tbvar model fetch tbinet --file tbinet_best.hdf5`" in message
    assert "`tbvar model import-keras tbinet_best.hdf5 -o tbinet.safetensors`" in message
    assert files_under(cache) == []
    assert main(["model", "fetch", "tbinet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tbvar model fetch tbinet --file" in err


def test_fetch_from_local_file(tmp_path, monkeypatch, cache, keras_bytes):
    source = tmp_path / "downloaded.hdf5"
    source.write_bytes(keras_bytes)
    use_registry(tmp_path, monkeypatch, urls=["http://127.0.0.1:9/never"],
                 sha256=file_sha256(source))
    path = fetch_model("small", source_file=source)
    assert load_model(path)[1].provenance["source_url"] == "local file"
    assert source.exists()  # the user's file is left alone
    other = tmp_path / "other.hdf5"
    other.write_bytes(keras_bytes + b"\0")
    with pytest.raises(ChecksumError):
        fetch_model("small", source_file=other, force=True)
    assert files_under(cache) == ["models/small.safetensors"]


def test_tbvar_converter_entry(tmp_path, monkeypatch, server, cache):
    config = TBiNetConfig(sequence_length=58, n_kernels=16, kernel_width=7, pool_size=4,
                          lstm_units=8, dense_units=12, n_tasks=3)
    model_file = tmp_path / "tiny.safetensors"
    save_model(TBiNet(config), model_file, ModelInfo(config=config, tasks=generic_tasks(3)))
    server.files["/tiny.safetensors"] = model_file.read_bytes()
    use_registry(tmp_path, monkeypatch, name="tiny", converter="tbvar", filename="tiny.safetensors",
                 urls=[server.url("/tiny.safetensors")], sha256=file_sha256(model_file))
    path = fetch_model("tiny")
    assert file_sha256(path) == file_sha256(model_file)
    server.files["/bad.safetensors"] = b"garbage"
    use_registry(tmp_path, monkeypatch, name="bad", converter="tbvar", filename="b.safetensors",
                 urls=[server.url("/bad.safetensors")])
    with pytest.raises(ValueError, match="not a safetensors model file"):
        fetch_model("bad")
    assert files_under(cache) == ["models/tiny.safetensors"]


def test_resolve_paths(tmp_path, cache, keras_bytes):
    keras_file = tmp_path / "any name.h5"
    keras_file.write_bytes(keras_bytes)
    converted = resolve_model(keras_file)
    assert converted == cache / "models" / "keras" / f"{file_sha256(keras_file)}.safetensors"
    stamp = converted.stat().st_mtime_ns
    assert resolve_model(str(keras_file)) == converted
    assert converted.stat().st_mtime_ns == stamp  # cached, not converted again
    assert resolve_model(converted) == converted  # a .safetensors path is used as is
    with pytest.raises(RegistryError, match="no such model file"):
        resolve_model(tmp_path / "missing.safetensors")
    with pytest.raises(RegistryError, match="unknown model 'nope'.*tbinet"):
        resolve_model("nope")


def test_registry_file_errors(tmp_path, monkeypatch):
    path = tmp_path / "registry.json"
    path.write_text("{not json")
    with pytest.raises(RegistryError, match="not a model registry JSON"):
        load_registry(path)
    path.write_text(json.dumps({"models": [{**registry.TBINET.to_dict(), "sha256": "abc"}]}))
    with pytest.raises(RegistryError, match="sha256 must be 64"):
        load_registry(path)
    path.write_text(json.dumps({"models": [{**registry.TBINET.to_dict(), "mirror": "x"}]}))
    with pytest.raises(RegistryError, match=r"unknown fields \['mirror'\]"):
        load_registry(path)
    with pytest.raises(RegistryError, match="cannot read the model registry"):
        load_registry(tmp_path / "missing.json")


def test_list_and_info_cli(tmp_path, monkeypatch, server, cache, keras_bytes, capsys):
    server.files["/small.hdf5"] = keras_bytes
    use_registry(tmp_path, monkeypatch, urls=[server.url("/small.hdf5")])
    assert main(["model", "list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^tbinet\*\s+no\s+keras", out, re.M)
    assert re.search(r"^small\s+no\s+keras", out, re.M)
    assert main(["model", "info", "tbinet"]) == 0
    out = capsys.readouterr().out
    assert "sha256          not published" in out and "doi:10.1038/s41598-020-70218-4" in out
    assert "installed       no - run `tbvar model fetch tbinet`" in out
    assert main(["model", "fetch", "small"]) == 0
    capsys.readouterr()
    assert main(["model", "list", "--json"]) == 0
    listed = {e["name"]: e["installed"] for e in json.loads(capsys.readouterr().out)}
    assert listed == {"tbinet": False, "small": True}
    assert main(["model", "info", "small"]) == 0
    out = capsys.readouterr().out
    assert "installed       yes" in out and "recurrent_activation hard_sigmoid" in out
    keras_file = tmp_path / "small.hdf5"
    keras_file.write_bytes(keras_bytes)
    assert main(["model", "info", str(keras_file)]) == 0
    out = capsys.readouterr().out
    assert "Keras file, not converted" in out and "keras_backend: theano" in out
    assert main(["model", "info", "nope"]) == 1
    assert "no such model file or registry name" in capsys.readouterr().err


# ------------------------------------------------------------------ wiring into the API/CLI


def test_load_model_accepts_name_safetensors_and_keras(tmp_path, monkeypatch, server, cache,
                                                       keras_bytes):
    server.files["/small.hdf5"] = keras_bytes
    use_registry(tmp_path, monkeypatch, urls=[server.url("/small.hdf5")])
    keras_file = tmp_path / "small.hdf5"
    keras_file.write_bytes(keras_bytes)
    by_name = tbvar.load_model("small")
    by_keras = tbvar.load_model(keras_file)
    by_path = tbvar.load_model(by_keras.info.path)
    assert by_name.info.path == str(cache / "models" / "small.safetensors")
    assert by_path.info.path == by_keras.info.path
    assert by_keras.info.provenance["source_sha256"] == file_sha256(keras_file)
    codes = torch.randint(0, 5, (3, 58), dtype=torch.uint8)
    with torch.no_grad():
        outputs = [m(codes)[0] for m in (by_name, by_keras, by_path)]
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[1], outputs[2])


def test_score_cli_with_keras_model_and_offline_default(tmp_path, monkeypatch, cache,
                                                        keras_bytes, capsys):
    keras_file = tmp_path / "small.hdf5"
    keras_file.write_bytes(keras_bytes)
    common = [str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--device", "cpu", "--quiet"]
    assert main(["score", *common, "--model", str(keras_file), "-o", str(tmp_path / "a.tsv")]) == 0
    converted = resolve_model(keras_file)
    assert main(["score", *common, "--model", str(converted), "-o", str(tmp_path / "b.tsv")]) == 0
    scored = (tmp_path / "a.tsv").read_text()
    assert scored == (tmp_path / "b.tsv").read_text()
    assert scored.count("\tok\t") >= 10
    capsys.readouterr()
    dead = Server()
    url = dead.url("/tbinet_best.hdf5")
    dead.close()
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"models": [{**registry.TBINET.to_dict(), "urls": [url]}]}))
    monkeypatch.setenv("TBVAR_REGISTRY", str(path))
    assert main(["score", *common, "-o", str(tmp_path / "c.tsv")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "model 'tbinet' (the default model) is not installed" in err
    assert "tbvar model fetch tbinet --file tbinet_best.hdf5" in err
    assert not (tmp_path / "c.tsv").exists()


def test_progress_bar_draws_only_when_enabled(tmp_path, monkeypatch, server, cache, keras_bytes,
                                              capsys):
    server.files["/small.hdf5"] = keras_bytes
    use_registry(tmp_path, monkeypatch, urls=[server.url("/small.hdf5")])
    with download.ProgressBar("small", enabled=False) as bar:
        fetch_model("small", progress=bar)
    assert capsys.readouterr().err == ""
    with download.ProgressBar("small", enabled=True) as bar:
        fetch_model("small", force=True, progress=bar)
    err = capsys.readouterr().err
    size = f"{len(keras_bytes) / 1024:.1f}k"
    assert "small: 100%" in err and size in err, err


def test_score_cli_installs_a_registry_model_on_first_use(tmp_path, monkeypatch, server, cache,
                                                         keras_bytes):
    server.files["/small.hdf5"] = keras_bytes
    use_registry(tmp_path, monkeypatch, urls=[server.url("/small.hdf5")])
    variants = tmp_path / "one.vcf"
    variants.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                        "chrB\t30\t.\tA\tC\t.\t.\t.\n")
    genome = tmp_path / "g.fa"
    genome.write_text(">chrB\n" + "ACGT" * 20 + "\n")
    out = tmp_path / "one.tsv"
    assert main(["score", str(variants), "--genome", str(genome), "--model", "small",
                 "-o", str(out), "--quiet", "--ref-mismatch", "use-vcf"]) == 0
    assert (cache / "models" / "small.safetensors").is_file()
    assert len(out.read_text().splitlines()) == 2
