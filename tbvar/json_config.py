"""Plain-JSON round trip shared by the model configs (frozen dataclasses)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

_Config = TypeVar("_Config", bound="JsonConfig")


class JsonConfig:
    """Base of a frozen dataclass config: :meth:`to_dict` and :meth:`from_dict`.

    Tuple fields are JSON lists; since a frozen config holds no lists, every list read back
    is a tuple.
    """

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation (tuples as lists)."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls: type[_Config], data: dict[str, Any]) -> _Config:
        """Build from :meth:`to_dict` output; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}; "
                             f"known: {sorted(known)}")
        return cls(**{key: tuple(value) if isinstance(value, list) else value
                      for key, value in data.items()})
