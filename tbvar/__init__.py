"""tbvar: score genetic variants with TBiNet (Park et al. 2020, Sci Rep 10:13413).

Python API::

    import tbvar
    df = tbvar.score_vcf("in.vcf.gz", genome="hg19.fa", model="model.safetensors")
"""

__version__ = "0.1.0"

from tbvar.api import load_model, predict, score_variants, score_vcf  # noqa: E402

__all__ = ["__version__", "load_model", "predict", "score_variants", "score_vcf"]
