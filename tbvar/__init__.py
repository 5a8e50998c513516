"""tbvar: score genetic variants with TBiNet (Park et al. 2020, Sci Rep 10:13413).

Python API::

    import tbvar
    df = tbvar.score_vcf("in.vcf.gz", genome="hg19.fa", model="model.safetensors")
"""

from tbvar.api import load_model, predict, score_variants, score_vcf
from tbvar.background import Background
from tbvar.calibration import BackgroundSource, calibrate
from tbvar.motifs import kernel_motifs
from tbvar.options import RunOptions, ScoreOptions
from tbvar.version import __version__

__all__ = ["__version__", "Background", "BackgroundSource", "RunOptions", "ScoreOptions",
           "calibrate", "kernel_motifs", "load_model", "predict", "score_variants", "score_vcf"]
