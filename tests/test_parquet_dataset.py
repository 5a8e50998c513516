"""Parquet dataset output (``-o DIR/``): the rows of the single Parquet file, one file per chunk."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import tbvar
from tbvar import writers
from tbvar.cli import main
from tbvar.formats import detect_format

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF, EXAMPLES

MODEL = EXAMPLES / "model.safetensors"
SETTINGS = {"device": "cpu", "chunk_size": 7, "batch_size": 4}


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.mark.parametrize("background", [False, True])
def test_dataset_holds_the_rows_of_the_single_file(tmp_path: Path, background: bool) -> None:
    extra = ({"background": EXAMPLES / "background.safetensors", "scores": ["lod", "p"]}
             if background else {})
    tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, MODEL, output=f"{tmp_path}/ds/",
                    **SETTINGS, **extra)
    tbvar.score_vcf(EXAMPLE_VCF, EXAMPLE_GENOME, MODEL, output=tmp_path / "one.parquet",
                    **SETTINGS, **extra)
    files = sorted((tmp_path / "ds").iterdir())
    assert [f.name for f in files] == [f"part-{i:09d}.parquet" for i in range(len(files))]
    single = pq.ParquetFile(tmp_path / "one.parquet")
    assert len(files) == single.metadata.num_row_groups == 5  # 35 records, 7 per chunk
    assert all(pq.ParquetFile(f).metadata.num_row_groups == 1 for f in files)
    dataset = pd.read_parquet(tmp_path / "ds")
    pd.testing.assert_frame_equal(dataset, pd.read_parquet(tmp_path / "one.parquet"))
    assert pq.read_schema(files[0]).metadata == single.schema_arrow.metadata
    assert ("q" in dataset) == background and (not background or dataset["q"].notna().any())
    assert (tmp_path / "ds.summary.json").read_bytes() == (
        tmp_path / "one.parquet.summary.json").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ds", "ds.summary.json", "one.parquet", "one.parquet.summary.json"]


def test_format_and_targets(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert detect_format("out/") == "parquet-dataset"
    assert detect_format("out", "parquet-dataset") == "parquet-dataset"
    args = ["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model", str(MODEL),
            "--device", "cpu", "-q"]
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "old.parquet").write_text("an earlier output")
    assert main([*args, "-o", str(tmp_path / "ds"), "--format", "parquet-dataset"]) == 0
    assert [p.name for p in (tmp_path / "ds").iterdir()] == ["part-000000000.parquet"]
    (tmp_path / "file").write_text("x")
    assert main([*args, "-o", f"{tmp_path}/file/"]) == 1
    assert "exists and is not a directory" in capsys.readouterr().err


def test_empty_input_gives_one_empty_file(tmp_path: Path) -> None:
    vcf = tmp_path / "empty.vcf"
    vcf.write_text("".join(line for line in EXAMPLE_VCF.read_text().splitlines(True)
                           if line.startswith("#")))
    tbvar.score_vcf(vcf, EXAMPLE_GENOME, MODEL, output=f"{tmp_path}/ds/", device="cpu")
    frame = pd.read_parquet(tmp_path / "ds")
    assert len(frame) == 0 and "max_lod" in frame


def test_interrupted_then_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = f"{tmp_path}/ds/"
    args = ["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model", str(MODEL),
            "--device", "cpu", "--chunk-size", "7", "-o", out, "-q"]
    assert main(args) == 0
    expected = _files(tmp_path / "ds")
    encode = writers.ParquetDatasetWriter.encode

    def interrupt_at_chunk_3(self, chunk):
        if chunk.index == 3:
            raise KeyboardInterrupt
        return encode(self, chunk)

    monkeypatch.setattr(writers.ParquetDatasetWriter, "encode", interrupt_at_chunk_3)
    assert main(args) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "ds.partial", "ds.summary.json"]
    monkeypatch.setattr(writers.ParquetDatasetWriter, "encode", encode)
    assert main([*args, "--resume"]) == 0
    assert _files(tmp_path / "ds") == expected


def test_check_outputs_directory_outputs(tmp_path: Path) -> None:
    """A dataset output may be an existing directory, not a file, and holds no input."""
    from tbvar.preflight import check_outputs

    dataset = tmp_path / "ds"
    check_outputs([dataset], directories=[dataset])  # absent: fine
    dataset.mkdir()
    check_outputs([dataset], directories=[dataset])  # a directory: replaced by the run
    with pytest.raises(OSError, match="is a directory"):
        check_outputs([dataset])
    inside = dataset / "in.vcf"
    inside.write_text("")
    with pytest.raises(ValueError, match="overwrite the input"):
        check_outputs([dataset], [inside], directories=[dataset])
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(OSError, match="not a directory"):
        check_outputs([afile], directories=[afile])
