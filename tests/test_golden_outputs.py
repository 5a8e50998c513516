"""Outputs equal the golden ones: every format, the example, the corpus and the API frame.

The digests were produced by ``python -m tests.golden_outputs --write`` before the scoring
pipeline refactor; see :mod:`tests.golden_outputs`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.golden_outputs import (
    DIGESTS,
    INPUTS_CASE,
    VERBATIM,
    Inputs,
    case_artifacts,
    case_ids,
    compare,
    corpus_input_artifacts,
    digests,
    first_difference,
    prepare,
    scorable_corpus_names,
)

GOLDEN: dict[str, dict[str, str]] = json.loads(DIGESTS.read_text())
CASES = case_ids(scorable_corpus_names())
REGENERATE = ("if the change is intended, regenerate with `python -m tests.golden_outputs "
              "--write` and say so in CHANGELOG.md")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The digests were computed with one intra-op thread (as tests/conftest.py sets); with
    more, float results can differ in the last bit (seen for one example variant)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    return prepare(tmp_path_factory.mktemp("golden"))


def test_cases_match_the_golden_file() -> None:
    assert len(CASES) == 7 + 24 + 1
    assert sorted(GOLDEN) == sorted([*CASES, INPUTS_CASE])


def test_corpus_inputs_unchanged(inputs: Inputs) -> None:
    """The rebuilt corpus and genome are the files the golden outputs were made from."""
    problems = compare(INPUTS_CASE, digests(corpus_input_artifacts(inputs)), GOLDEN[INPUTS_CASE])
    assert not problems, "\n".join(["corpus inputs changed (tests/vcf_corpus.py or a library):",
                                    *problems])


@pytest.mark.parametrize("case_id", CASES)
def test_outputs_match_golden(inputs: Inputs, case_id: str) -> None:
    artifacts = case_artifacts(inputs, case_id)
    problems = compare(case_id, digests(artifacts), GOLDEN[case_id])
    for (case, name), path in VERBATIM.items():
        if case == case_id and artifacts[name] != path.read_bytes():
            problems.append(f"{case_id}: {name} differs from {path.name}, "
                            + first_difference(path.read_text(), artifacts[name].decode()))
    assert not problems, "\n".join([*problems, REGENERATE])


def test_verbatim_files_match_their_digests() -> None:
    """The stored example outputs are the ones the digests were made from."""
    for (case, name), path in VERBATIM.items():
        assert digests({name: Path(path).read_bytes()})[name] == GOLDEN[case][name], path
