"""Model files: bit-exact round trip, clear rejection of anything else, no unpickling."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tbvar.baselines import DanQConfig
from tbvar.checkpoint import ModelInfo, load_model, read_model_info, save_model
from tbvar.errors import ModelFileError
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.tasks import generic_tasks, tbinet_tasks

from .conftest import EXAMPLES, SMALL_CONFIG, make_model


def test_round_trip_is_bit_exact_with_metadata(tmp_path: Path) -> None:
    model = make_model(TBiNetConfig(n_kernels=8, lstm_units=4, dense_units=8, n_tasks=690,
                                    recurrent_activation="hard_sigmoid"))
    info = ModelInfo(config=model.config, tasks=tbinet_tasks(), genome_build="hg19",
                     description="round trip", task_source="DeepSEA",
                     provenance={"seed": 1})
    path = tmp_path / "m.safetensors"
    save_model(model, path, info)
    loaded, got = load_model(path)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name
    assert got.config == model.config
    assert got.tasks.equals(info.tasks)
    assert got.tasks.loc[0, "index"] == 125 and got.tasks.loc[689, "index"] == 814
    assert (got.genome_build, got.description, got.provenance) == ("hg19", "round trip",
                                                                   {"seed": 1})
    assert len(got.sha256) == 64
    save_model(loaded, tmp_path / "again.safetensors", got)
    assert (tmp_path / "again.safetensors").read_bytes() == path.read_bytes()


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    model = make_model()
    path = tmp_path / "ok.safetensors"
    save_model(model, path, ModelInfo(config=model.config,
                                      tasks=generic_tasks(model.config.n_tasks)))
    return path


def test_truncated_file_is_rejected(model_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(model_file.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="truncated.safetensors"):
        load_model(bad)


def test_random_bytes_and_text_are_rejected(tmp_path: Path) -> None:
    for name, data in (("noise.safetensors", bytes(range(256)) * 10),
                       ("notes.txt", b"just some text\n")):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ModelFileError, match=name):
            load_model(path)


def test_safetensors_without_tbvar_metadata_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, path, metadata={"other": "x"})
    with pytest.raises(ModelFileError, match="not a tbvar model"):
        load_model(path)


def test_wrong_shapes_and_missing_tensors_are_rejected(model_file: Path, tmp_path: Path
                                                       ) -> None:
    with safe_open(model_file, framework="pt") as handle:
        meta = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    broken = dict(tensors, **{"conv.bias": torch.zeros(3)})
    save_file(broken, tmp_path / "shape.safetensors", metadata=meta)
    with pytest.raises(ModelFileError, match="conv.bias has shape"):
        load_model(tmp_path / "shape.safetensors")
    del tensors["output.weight"]
    save_file(tensors, tmp_path / "missing.safetensors", metadata=meta)
    with pytest.raises(ModelFileError, match="missing.*output.weight"):
        load_model(tmp_path / "missing.safetensors")
    doc = json.loads(meta["tbvar"])
    doc["format_version"] = 99
    save_file({}, tmp_path / "version.safetensors", metadata={"tbvar": json.dumps(doc)})
    with pytest.raises(ModelFileError, match=r"version 99 is not supported \(this tbvar reads "
                                             r"versions 1 and 2\)"):
        read_model_info(tmp_path / "version.safetensors")


def test_pickle_file_is_rejected_without_unpickling(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_model()
    path = tmp_path / "pickled.pt"
    torch.save(model.state_dict(), path)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr("pickle.load", forbidden)
    monkeypatch.setattr("pickle.loads", forbidden)
    with pytest.raises(ModelFileError, match="pickled.pt"):
        load_model(path)


def test_missing_file_message(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "nope.safetensors")


def _version1_file(path: Path, model: TBiNet) -> Path:
    """A model file as tbvar wrote it before the architecture registry (no ``arch`` key)."""
    c = model.config
    doc = {"format": "tbvar-model", "format_version": 1,
           "config": {"sequence_length": c.sequence_length, "n_kernels": c.n_kernels,
                      "kernel_width": c.kernel_width, "pool_size": c.pool_size,
                      "lstm_units": c.lstm_units, "dense_units": c.dense_units,
                      "n_tasks": c.n_tasks, "recurrent_activation": c.recurrent_activation,
                      "conv_dropout": c.conv_dropout, "lstm_dropout": c.lstm_dropout},
           "onehot_order": "AGCT", "sequence_length": c.sequence_length,
           "genome_build": "hg19", "description": "old", "task_source": "", "random_weights": True,
           "provenance": {}, "tasks": [{"index": j, "cell_type": "c", "target": f"t{j}",
                                        "treatment": "None"} for j in range(c.n_tasks)]}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path,
              metadata={"tbvar": json.dumps(doc)})
    return path


def test_version_1_file_loads_as_tbinet(tmp_path: Path) -> None:
    model = make_model()
    loaded, info = load_model(_version1_file(tmp_path / "v1.safetensors", model))
    assert isinstance(loaded, TBiNet) and info.arch == "tbinet" and info.config == model.config
    assert info.description == "old" and info.tasks["target"].tolist()[:2] == ["t0", "t1"]
    codes = torch.randint(0, 5, (3, model.config.sequence_length), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(loaded(codes)[0], model(codes)[0])


def test_bundled_example_records_no_paths_of_the_machine_that_made_it() -> None:
    path = EXAMPLES / "model.safetensors"
    with safe_open(path, framework="pt") as handle:
        doc = json.loads(handle.metadata()["tbvar"])
    assert doc["format_version"] == 2 and doc["arch"] == "tbinet"
    text = json.dumps(doc)
    for prefix in ("/tmp", "/work", "/home", "/root", "/Users"):
        assert prefix not in text
    model, info = load_model(path)
    assert isinstance(model, TBiNet) and info.task_source == "tbvar shards sim"
    assert info.provenance["command"].startswith("tbvar-train fit --data sim --out run ")


def _rewrite_metadata(source: Path, target: Path, **changes: object) -> Path:
    with safe_open(source, framework="pt") as handle:
        doc = json.loads(handle.metadata()["tbvar"])
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    save_file(tensors, target, metadata={"tbvar": json.dumps({**doc, **changes})})
    return target


def test_unknown_architecture_is_named_with_the_known_ones(model_file: Path,
                                                           tmp_path: Path) -> None:
    path = _rewrite_metadata(model_file, tmp_path / "basset.safetensors", arch="basset")
    with pytest.raises(ModelFileError, match=r"basset.safetensors: model architecture "
                                             r"'basset' is not one.*tbinet, danq, deepsea"):
        read_model_info(path)
    path = _rewrite_metadata(model_file, tmp_path / "noarch.safetensors", arch=None)
    with pytest.raises(ModelFileError, match="noarch.safetensors: model architecture None"):
        read_model_info(path)


def test_tensors_of_another_architecture_are_refused(model_file: Path, tmp_path: Path) -> None:
    c = SMALL_CONFIG
    danq = DanQConfig(sequence_length=c.sequence_length, n_kernels=c.n_kernels,
                      kernel_width=c.kernel_width, pool_size=c.pool_size,
                      lstm_units=c.lstm_units, dense_units=c.dense_units, n_tasks=c.n_tasks)
    path = _rewrite_metadata(model_file, tmp_path / "claims_danq.safetensors", arch="danq",
                             config=danq.to_dict())
    message = ("claims_danq.safetensors: tensors do not match the model config (a danq model: "
               "missing [], unexpected ['attention.bias', 'attention.weight'])")
    with pytest.raises(ModelFileError, match=re.escape(message)):
        load_model(path)
