"""``OUT.partial/`` on its own: manifest, chunk storage, resume rules, input fingerprints."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tbvar.partial import PartialRun, input_fingerprint

MIB = 1 << 20
KEY = {"input": {"path": "/data/in.vcf", "size": 10}, "options": {"scores": ("lod", "diff")},
       "chunk_size": 1024}


def stored(run: PartialRun) -> list[str]:
    return sorted(p.name for p in run.dir.iterdir())


def test_fresh_run_writes_its_manifest(tmp_path: Path) -> None:
    run = PartialRun(tmp_path / "out.vcf.gz", KEY)
    assert run.dir == tmp_path / "out.vcf.gz.partial"
    assert stored(run) == ["manifest.json"]
    assert json.loads((run.dir / "manifest.json").read_text()) == {
        "format": "tbvar-partial-run", "version": 2, "chunk_size": 1024,
        "input": {"path": "/data/in.vcf", "size": 10}, "options": {"scores": ["lod", "diff"]}}
    assert (run.reused, run.stale_reason) == (0, None)


def test_save_done_info_parts_and_scratch(tmp_path: Path) -> None:
    run = PartialRun(tmp_path / "out.tsv", KEY)
    assert not run.done(0)
    run.save(0, {"tsv": b"rows 0\n", "skipped": b""}, {"records": 2, "summary": {"ok": 2}})
    run.save(1, {"tsv": b"rows 1\n", "skipped": b"bad\n"}, {"records": 1})
    assert stored(run) == ["chunk-000000.json", "chunk-000000.skipped", "chunk-000000.tsv",
                           "chunk-000001.json", "chunk-000001.skipped", "chunk-000001.tsv",
                           "manifest.json"]  # no temporary files left behind
    assert (run.done(0), run.done(1), run.done(2)) == (True, True, False)
    assert run.info(0) == {"records": 2, "summary": {"ok": 2}} and run.info(1) == {"records": 1}
    assert [p.read_bytes() for p in run.parts("tsv", 2)] == [b"rows 0\n", b"rows 1\n"]
    assert [p.name for p in run.parts("skipped", 3)] == [
        "chunk-000000.skipped", "chunk-000001.skipped", "chunk-000002.skipped"]
    scratch = run.scratch("tsv")
    assert scratch.parent == run.dir and scratch.name.endswith(".tmp")


def test_chunk_without_its_json_is_not_done(tmp_path: Path) -> None:
    run = PartialRun(tmp_path / "out.tsv", KEY)
    (run.dir / "chunk-000000.tsv").write_bytes(b"parts written, then killed\n")
    assert not run.done(0)


def test_resume_with_the_same_key_reuses_chunks(tmp_path: Path) -> None:
    first = PartialRun(tmp_path / "out.tsv", KEY)
    first.save(0, {"tsv": b"a"}, {"records": 1})
    first.save(1, {"tsv": b"b"}, {"records": 1})
    (first.dir / "chunk-000002.tsv.tmp").write_bytes(b"half a part")
    (first.dir / "assemble.tsv.tmp").write_bytes(b"half an output")
    again = PartialRun(tmp_path / "out.tsv", KEY, resume=True)  # tuples equal JSON lists
    assert (again.reused, again.stale_reason) == (2, None)
    assert again.done(0) and again.done(1) and not again.done(2)
    assert [p.read_bytes() for p in again.parts("tsv", 2)] == [b"a", b"b"]
    assert stored(again) == ["chunk-000000.json", "chunk-000000.tsv", "chunk-000001.json",
                             "chunk-000001.tsv", "manifest.json"]


def test_same_key_without_resume_starts_over(tmp_path: Path) -> None:
    PartialRun(tmp_path / "out.tsv", KEY).save(0, {"tsv": b"a"}, {})
    again = PartialRun(tmp_path / "out.tsv", KEY)
    assert (again.reused, again.stale_reason) == (0, None)
    assert stored(again) == ["manifest.json"]


def test_resume_with_another_key_starts_over(tmp_path: Path) -> None:
    PartialRun(tmp_path / "out.tsv", KEY).save(0, {"tsv": b"a"}, {})
    changed = {**KEY, "chunk_size": 512}
    again = PartialRun(tmp_path / "out.tsv", changed, resume=True)
    assert again.reused == 0
    assert again.stale_reason == ("it was made by a different input, model, genome or "
                                  "options")
    assert stored(again) == ["manifest.json"]
    assert json.loads((again.dir / "manifest.json").read_text())["chunk_size"] == 512


@pytest.mark.parametrize("manifest", [None, b"{not json"])
def test_resume_of_a_directory_without_a_readable_manifest(tmp_path: Path,
                                                           manifest: bytes | None) -> None:
    directory = tmp_path / "out.tsv.partial"
    directory.mkdir()
    if manifest is not None:
        (directory / "manifest.json").write_bytes(manifest)
    run = PartialRun(tmp_path / "out.tsv", KEY, resume=True)
    assert (run.reused, run.stale_reason) == (0, "it has no manifest")
    assert stored(run) == ["manifest.json"]


@pytest.mark.parametrize("what", ["other files", "other manifest", "a file"])
def test_foreign_directory_is_refused_and_kept(tmp_path: Path, what: str) -> None:
    path = tmp_path / "out.tsv.partial"
    if what == "a file":
        path.write_text("mine")
    else:
        path.mkdir()
        name, text = (("notes.txt", "mine") if what == "other files"
                      else ("manifest.json", '{"format": "something else"}'))
        (path / name).write_text(text)
    before = sorted(p.name for p in path.iterdir()) if path.is_dir() else path.read_text()
    for resume in (False, True):
        with pytest.raises(OSError, match="exists and is not a tbvar partial-run directory"):
            PartialRun(tmp_path / "out.tsv", KEY, resume=resume)
    assert (sorted(p.name for p in path.iterdir()) if path.is_dir() else path.read_text()
            ) == before


def test_remove_deletes_the_directory(tmp_path: Path) -> None:
    run = PartialRun(tmp_path / "out.tsv", KEY)
    run.save(0, {"tsv": b"a"}, {})
    run.remove()
    assert not run.dir.exists()
    run.remove()  # already gone: nothing to do
    assert list(tmp_path.iterdir()) == []


def _change_byte(path: Path, offset: int) -> None:
    """Flip one byte, keeping size and modification time."""
    stat = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(offset)
        value = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([value ^ 0xFF]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_input_fingerprint_of_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "in.vcf"
    data = os.urandom(3 * MIB + 123)
    path.write_bytes(data)
    fingerprint = input_fingerprint(path)
    assert fingerprint == {"path": str(path.resolve()), "size": len(data),
                           "mtime_ns": path.stat().st_mtime_ns,
                           "sha256_ends": hashlib.sha256(data[:MIB] + data[-MIB:]).hexdigest()}
    assert input_fingerprint(path) == fingerprint  # the same file again
    _change_byte(path, MIB + MIB // 2)  # the middle is not sampled
    assert input_fingerprint(path) == fingerprint
    for offset in (0, MIB - 1, len(data) - MIB, len(data) - 1):
        _change_byte(path, offset)
        changed = input_fingerprint(path)
        assert changed["sha256_ends"] != fingerprint["sha256_ends"], offset
        assert {k: v for k, v in changed.items() if k != "sha256_ends"} == {
            k: v for k, v in fingerprint.items() if k != "sha256_ends"}
        _change_byte(path, offset)  # back as it was
        assert input_fingerprint(path) == fingerprint


def test_input_fingerprint_of_small_and_medium_files(tmp_path: Path) -> None:
    small = tmp_path / "small.vcf"
    small.write_bytes(b"##fileformat=VCFv4.2\n")
    assert input_fingerprint(small)["sha256_ends"] == hashlib.sha256(
        b"##fileformat=VCFv4.2\n").hexdigest()
    medium = tmp_path / "medium.vcf"
    data = os.urandom(MIB + MIB // 2)
    medium.write_bytes(data)
    assert input_fingerprint(medium)["sha256_ends"] == hashlib.sha256(data).hexdigest()
    before = input_fingerprint(medium)
    _change_byte(medium, MIB + 10)
    assert input_fingerprint(medium)["sha256_ends"] != before["sha256_ends"]
    medium.write_bytes(data + b"x")
    assert input_fingerprint(medium)["size"] == len(data) + 1
