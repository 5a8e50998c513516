"""Task (output) descriptions: the DeepSEA/TBiNet task table and task selection."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import pandas as pd

TASK_COLUMNS = ("index", "cell_type", "target", "treatment")
#: DeepSEA column of TBiNet output 0 (TBiNet predicts DeepSEA columns 125..814).
TBINET_FIRST_DEEPSEA_COLUMN = 125
DEEPSEA_TASK_SOURCE = "DeepSEA predictor.names (tbvar/data/deepsea_features.tsv), columns 125..814"


def deepsea_features() -> pd.DataFrame:
    """All 919 DeepSEA features, in label order."""
    path = resources.files("tbvar") / "data" / "deepsea_features.tsv"
    with path.open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, sep="\t", dtype={"treatment": str}, keep_default_na=False)


def tbinet_tasks() -> pd.DataFrame:
    """The 690 TBiNet tasks (``index`` is the DeepSEA column), in output order."""
    features = deepsea_features()
    tasks = features[features["is_tbinet"] == 1][list(TASK_COLUMNS)]
    return tasks.reset_index(drop=True)


def generic_tasks(n_tasks: int) -> pd.DataFrame:
    """Placeholder descriptions ``task0..`` for models without a task table."""
    return pd.DataFrame({
        "index": range(n_tasks),
        "cell_type": ["NA"] * n_tasks,
        "target": [f"task{j}" for j in range(n_tasks)],
        "treatment": ["None"] * n_tasks,
    })


def task_labels(tasks: pd.DataFrame) -> list[str]:
    """Unique display labels ``cell|target|treatment`` (repeats get ``#2``, ``#3``, ...)."""
    labels: list[str] = []
    seen: dict[str, int] = {}
    for row in tasks.itertuples(index=False):
        base = f"{row.cell_type}|{row.target}|{row.treatment}"
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return labels


def select_tasks(tasks: pd.DataFrame, selectors: Sequence[str] | None) -> list[int]:
    """Output positions selected by ``selectors``.

    Each selector is an output position (``"17"``), a target (``"CTCF"``), a cell type
    (``"K562"``) or a unique label (``"K562|CTCF|None"``); matching is case-insensitive for names.
    ``None`` or an empty list selects every task. Unknown selectors raise ``ValueError``.
    """
    if not selectors:
        return list(range(len(tasks)))
    labels = [label.lower() for label in task_labels(tasks)]
    targets = tasks["target"].str.lower().tolist()
    cells = tasks["cell_type"].str.lower().tolist()
    chosen: set[int] = set()
    for selector in selectors:
        key = selector.strip()
        if key.isdigit():
            position = int(key)
            if position >= len(tasks):
                raise ValueError(f"task index {position} is out of range (0..{len(tasks) - 1})")
            chosen.add(position)
            continue
        low = key.lower()
        hits = {j for j in range(len(tasks)) if low in (labels[j], targets[j], cells[j])}
        if not hits:
            raise ValueError(f"no task matches {selector!r} (give an index, target, cell type "
                             "or label such as 'K562|CTCF|None')")
        chosen |= hits
    return sorted(chosen)
