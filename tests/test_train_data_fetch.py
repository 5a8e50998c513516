"""``tbvar-train fetch deepsea`` against a local HTTP server (127.0.0.1, Range support)."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import tarfile
import threading

import pytest

from tbvar import download as transfer
from tbvar_train.cli import main as train_main
from tbvar_train.fetch import FetchError, download, fetch_deepsea, unpack


def make_tarball(entries: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return buffer.getvalue()


BUNDLE = {
    "deepsea_train/train.mat": b"train" * 20000,  # incompressible enough to need many blocks
    "deepsea_train/valid.mat": b"valid" * 100,
    "deepsea_train/test.mat": bytes(range(256)) * 300,
}


@pytest.fixture(autouse=True)
def no_retry_pause(monkeypatch):
    monkeypatch.setattr(transfer, "RETRY_DELAY_S", 0.0)


class Server:
    """Serves one payload; can cut the first ``cut_after`` bytes' connection once."""

    def __init__(self, payload: bytes, cut_after: int | None = None,
                 honour_range: bool = True) -> None:
        self.payload, self.cut_after, self.honour_range = payload, cut_after, honour_range
        self.requests: list[str | None] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append(self.headers.get("Range"))
                data, start = owner.payload, 0
                rng = self.headers.get("Range")
                if rng and owner.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if owner.cut_after is not None:
                    self.wfile.write(body[:owner.cut_after])
                    self.wfile.flush()
                    owner.cut_after = None
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/deepsea_train_bundle.tar.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_fetch_unpacks_bundle_and_skips_when_present(tmp_path):
    payload = make_tarball(BUNDLE)
    with Server(payload) as server:
        bundle = fetch_deepsea(tmp_path, url=server.url, progress=False,
                               sha256=hashlib.sha256(payload).hexdigest())
        assert bundle == tmp_path / "deepsea_train"
        for name, data in BUNDLE.items():
            assert (tmp_path / name).read_bytes() == data
        assert not list(tmp_path.glob("*.tar.gz*"))  # archive removed, no partial left
        assert not list(tmp_path.glob(".unpack-*"))
        assert fetch_deepsea(tmp_path, url=server.url, progress=False) == bundle
        assert server.requests == [None]  # second call found the bundle, no download


def test_interrupted_download_resumes_with_range(tmp_path):
    payload = make_tarball(BUNDLE)
    dest = tmp_path / "b.tar.gz"
    with Server(payload, cut_after=1000) as server:
        with pytest.raises(FetchError, match="interrupted 1 time, the last at 1000 bytes.*run ag"):
            download(server.url, dest, retries=0, progress=False)
        part = tmp_path / "b.tar.gz.part"
        assert part.read_bytes() == payload[:1000]
        download(server.url, dest, retries=0, progress=False)
        assert server.requests == [None, "bytes=1000-"]
    assert dest.read_bytes() == payload
    assert not part.exists()


def test_automatic_retry_and_server_without_range(tmp_path):
    payload = make_tarball(BUNDLE)
    with Server(payload, cut_after=500) as server:
        download(server.url, tmp_path / "a.tgz", retries=2, progress=False)
        assert server.requests == [None, "bytes=500-"]
    assert (tmp_path / "a.tgz").read_bytes() == payload
    with Server(payload, cut_after=700, honour_range=False) as server:
        download(server.url, tmp_path / "b.tgz", retries=1, progress=False)
        assert server.requests == [None, "bytes=700-"]  # answered 200: restarted from 0
    assert (tmp_path / "b.tgz").read_bytes() == payload


def test_sha256_mismatch_removes_partial(tmp_path):
    with Server(make_tarball(BUNDLE)) as server:
        with pytest.raises(FetchError, match="sha256 .* does not match"):
            download(server.url, tmp_path / "a.tgz", sha256="0" * 64, progress=False)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["/etc/evil", "deepsea_train/../../evil", "../evil"])
def test_unsafe_member_paths_rejected(tmp_path, name):
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(make_tarball({"deepsea_train/ok.mat": b"x", name: b"evil"}))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FetchError, match="unsafe member path"):
        unpack(archive, out)
    assert not list(out.iterdir())


def test_links_and_garbage_rejected(tmp_path):
    link = tarfile.TarInfo("deepsea_train/train.mat")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    archive = tmp_path / "link.tar.gz"
    archive.write_bytes(make_tarball({}, [link]))
    with pytest.raises(FetchError, match="link or special file"):
        unpack(archive, tmp_path)
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"this is not a tarball")
    with pytest.raises(FetchError, match="not a readable tar archive"):
        unpack(garbage, tmp_path)


def test_archive_without_bundle_files_is_reported(tmp_path):
    with Server(make_tarball({"other/readme.txt": b"hi"})) as server:
        with pytest.raises(FetchError, match="unpacked, but .*no train.mat"):
            fetch_deepsea(tmp_path, url=server.url, progress=False)


def test_offline_message_cli(tmp_path, capsys):
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = train_main(["fetch", "deepsea", "--out", str(tmp_path), "--url",
                       f"http://127.0.0.1:{port}/x.tar.gz"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err
    assert "cannot reach" in err and "offline" in err


def test_completed_archive_is_not_downloaded_again(tmp_path):
    payload = make_tarball(BUNDLE)
    (tmp_path / "a.tgz").write_bytes(payload)
    with Server(payload) as server:
        download(server.url, tmp_path / "a.tgz", sha256=hashlib.sha256(payload).hexdigest(),
                 progress=False)
        assert server.requests == []


def test_complete_partial_file_is_finished_via_416(tmp_path):
    payload = make_tarball(BUNDLE)
    (tmp_path / "a.tgz.part").write_bytes(payload)
    with Server(payload) as server:
        download(server.url, tmp_path / "a.tgz", progress=False)
        assert server.requests == [f"bytes={len(payload)}-"]
    assert (tmp_path / "a.tgz").read_bytes() == payload
