"""The user cache directory of tbvar: installed models and encoded genomes."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

#: Environment variable that overrides the cache directory.
CACHE_ENV = "TBVAR_CACHE"


def default_cache_dir() -> Path:
    """``$TBVAR_CACHE`` or the user cache directory for tbvar."""
    return Path(os.environ.get(CACHE_ENV) or user_cache_dir("tbvar"))
