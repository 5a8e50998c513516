"""tbvar-train: training and evaluation of TBiNet models (GPU-oriented; imports tbvar)."""
