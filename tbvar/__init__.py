"""tbvar: score genetic variants with TBiNet (Park et al. 2020, Sci Rep 10:13413).

Python API::

    import tbvar
    df = tbvar.score_vcf("in.vcf.gz", genome="hg19.fa", model="model.safetensors")

Errors a caller may catch (all named in the message: file, record, URL): ``VariantInputError``
(malformed variant input), ``GenomeError`` (a genome that cannot be read), ``ModelFileError``
(not a valid model file), ``BackgroundError`` (not a usable background, or one built for
another model/genome/options), ``DownloadError`` and its subclass ``OfflineError`` (a model
download failed / no network); the first four are ``ValueError``s, the last two ``OSError``s.
"""

from tbvar.api import load_model, predict, score_variants, score_vcf
from tbvar.background import Background, BackgroundError
from tbvar.calibration import BackgroundSource, calibrate
from tbvar.errors import (
    DownloadError,
    GenomeError,
    ModelFileError,
    OfflineError,
    RunOutputError,
    VariantInputError,
)
from tbvar.explain import VariantExplanation, explain_variant, explain_variants
from tbvar.motifs import kernel_motifs
from tbvar.options import RunOptions, ScoreOptions
from tbvar.run_reader import read_run
from tbvar.run_report import report
from tbvar.version import __version__

__all__ = ["__version__", "Background", "BackgroundError", "BackgroundSource",
           "DownloadError", "GenomeError", "ModelFileError", "OfflineError", "RunOptions",
           "RunOutputError", "ScoreOptions", "VariantExplanation", "VariantInputError",
           "calibrate", "explain_variant", "explain_variants", "kernel_motifs",
           "load_model", "predict", "read_run", "report", "score_variants", "score_vcf"]
