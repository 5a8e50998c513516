"""The user-facing errors of tbvar; every message names the file or URL concerned.

The command line prints any of them as one line and exits with status 1.
"""

from __future__ import annotations


class ModelFileError(ValueError):
    """A file is not a valid tbvar model."""


class KerasImportError(ModelFileError):
    """A Keras file cannot be imported as a TBiNet model."""


class GenomeError(ValueError):
    """A genome FASTA cannot be opened or read."""


class DownloadError(OSError):
    """A download failed: unreachable, an HTTP error, interrupted too often, a web page."""


class OfflineError(DownloadError):
    """A download could not reach its server at all (no network, DNS failure)."""


class VariantInputError(ValueError):
    """An input file or table cannot be read; the message names the file and record."""


class RunOutputError(ValueError):
    """A file is not a readable tbvar run output, or holds nothing to report."""
