"""tbvar: score genetic variants with TBiNet."""

__version__ = "0.1.0"
