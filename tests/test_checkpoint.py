"""Model files: bit-exact round trip, clear rejection of anything else, no unpickling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tbvar.checkpoint import ModelInfo, load_model, read_model_info, save_model
from tbvar.errors import ModelFileError
from tbvar.model import TBiNetConfig
from tbvar.tasks import generic_tasks, tbinet_tasks

from .conftest import make_model


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
    from safetensors import safe_open
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
    with pytest.raises(ModelFileError, match="version 99"):
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
