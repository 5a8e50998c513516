"""Task labels with VCF-reserved characters are percent-encoded in INFO values (VCF 4.3)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pysam

from tbvar.checkpoint import ModelInfo, save_model
from tbvar.cli import main
from tbvar.tasks import task_labels
from tbvar.text import percent_decode, percent_encode

from .conftest import EXAMPLE_GENOME, EXAMPLE_VCF, SMALL_CONFIG, make_model

TARGETS = ["a,b", "c;d=e", "f g&h:i", "100%", "plain"]


def test_percent_encoding_round_trips() -> None:
    labels = ["x,y;z=w", "p q\tr", "a&b:c%d", "ok|CTCF|None"]
    encoded = percent_encode(labels)
    assert encoded.tolist()[3] == "ok|CTCF|None"
    for text in encoded:
        assert re.fullmatch(r"([^%,;=&: \t\r\n]|%[0-9A-F]{2})*", text)
    assert [percent_decode(t) for t in encoded] == labels


def test_vcf_with_awkward_task_names_is_valid(tmp_path: Path) -> None:
    tasks = pd.DataFrame({"index": range(5), "cell_type": "K562", "target": TARGETS,
                          "treatment": "None"})
    model = tmp_path / "awkward.safetensors"
    save_model(make_model(SMALL_CONFIG), model, ModelInfo(config=SMALL_CONFIG, tasks=tasks))
    out = tmp_path / "out.vcf"
    assert main(["score", str(EXAMPLE_VCF), "--genome", str(EXAMPLE_GENOME), "--model",
                 str(model), "-o", str(out), "--device", "cpu", "-q"]) == 0
    labels = set(task_labels(tasks))
    seen = 0
    with pysam.VariantFile(str(out)) as vcf:  # htslib's parser: fails on a broken INFO
        for record in vcf:
            for i, status in enumerate(record.info.get("TBVAR_STATUS", ())):
                if status != "ok":
                    continue
                best = record.info["TBVAR_MAXLOD_TASK"][i]
                assert set(map(percent_decode, best.split("&"))) <= labels
                top = record.info["TBVAR_TOPK"][i]
                names = [percent_decode(item.rsplit(":", 1)[0]) for item in top.split("&")]
                assert set(names) == labels  # top-5 of 5 tasks
                seen += 1
    assert seen == 30  # scored alleles of the example
