"""Rough edges a new user hit (the CLI's messages, help and missing values), each checked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tbvar import score_cli
from tbvar.cli import build_parser, main
from tbvar_train.cli import build_parser as train_parser
from tbvar_train.cli import main as train_main

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF, REPO


def test_a_missing_input_is_reported_before_any_model_download(tmp_path: Path, capsys,
                                                               monkeypatch) -> None:
    def no_download(*args, **kwargs):
        raise AssertionError("the model was resolved before the input was checked")

    monkeypatch.setattr(score_cli, "resolve_model_arg", no_download)
    assert main(["score", str(tmp_path / "missing.vcf"), "--genome", str(EXAMPLE_GENOME),
                 "-o", str(tmp_path / "o.tsv")]) == 1  # no --model: the default registry one
    assert capsys.readouterr().err == f"tbvar: error: {tmp_path / 'missing.vcf'}: no such " \
                                      "input VCF file\n"


def test_output_equal_to_input_is_refused(tmp_path: Path, small_model_file: Path,
                                          capsys) -> None:
    vcf = tmp_path / "calls.vcf"
    vcf.write_bytes(EXAMPLE_VCF.read_bytes())
    assert main(["score", str(vcf), "--genome", str(EXAMPLE_GENOME), "--model",
                 str(small_model_file), "-o", str(vcf)]) == 1
    assert "output would overwrite the input" in capsys.readouterr().err
    assert vcf.read_bytes() == EXAMPLE_VCF.read_bytes()


def test_unknown_device_is_one_line(tmp_path: Path, small_model_file: Path, capsys) -> None:
    assert main(["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model",
                 str(small_model_file), "-o", str(tmp_path / "o.tsv"), "--device",
                 "tpu"]) == 1
    assert capsys.readouterr().err == ("tbvar: error: unknown device 'tpu'; use auto, cpu, "
                                       "cuda or cuda:N\n")


def test_unscored_rows_have_missing_values_and_table_runs_no_vcf_note(
        tmp_path: Path, small_model_file: Path, capsys) -> None:
    out = tmp_path / "o.tsv"
    assert main(["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model",
                 str(small_model_file), "-o", str(out)]) == 0
    assert "defined in the output header" not in capsys.readouterr().err
    table = pd.read_csv(out, sep="\t", keep_default_na=False)
    bad = table[table["status"] != "ok"]
    for column in ("max_lod_task", "top_tasks", "attn_peak_ref", "attn_peak_alt", "max_lod"):
        assert (bad[column] == "NA").all(), column
    never = bad[bad["status"].isin(["symbolic_allele", "no_alt", "unknown_contig"])]
    assert len(never) == 3 and (never["ref_match"] == "NA").all()
    assert table.loc[table["status"] == "ref_mismatch", "ref_match"].tolist() == ["False"]


def test_help_tells_the_truth_about_the_default_output() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["score"].format_help()
    assert "in.vcf -> in.tbvar.vcf" in " ".join(text.split())


def test_tbvar_train_version_and_every_option_has_help(capsys) -> None:
    with pytest.raises(SystemExit):
        train_main(["--version"])
    assert capsys.readouterr().out.startswith("tbvar-train ")
    commands = train_parser()._subparsers._group_actions[0].choices
    for name, parser in commands.items():
        assert "``" not in (parser.description or ""), name
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"tbvar-train {name} {action.option_strings[0]}"


def test_model_info_prints_provenance_readably(capsys) -> None:
    assert main(["model", "info", str(REPO / "examples" / "model.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "{'" not in out and "provenance        format: tbvar-shards" in out
