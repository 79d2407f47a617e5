"""The numerical core: weighted metrics, the stratified bootstrap engine, DeLong, Wilson."""

from .bootstrap import BootstrapResult, ResamplingEngine
from .delong import auroc_delong, delong_variance, placements
from .estimate import Estimate
from .metrics import PERFORMANCE_METRICS, BinaryMetrics, binary_metrics
from .paired import PairedMetrics, delong_paired, mcnemar_test, paired_bootstrap
from .proportions import clopper_pearson_interval, proportion, wilson_interval
from .resample import resample_counts, strata_codes, stream_rng

__all__ = [
    "BinaryMetrics",
    "BootstrapResult",
    "Estimate",
    "PERFORMANCE_METRICS",
    "PairedMetrics",
    "ResamplingEngine",
    "auroc_delong",
    "binary_metrics",
    "clopper_pearson_interval",
    "delong_paired",
    "delong_variance",
    "mcnemar_test",
    "paired_bootstrap",
    "placements",
    "proportion",
    "resample_counts",
    "strata_codes",
    "stream_rng",
    "wilson_interval",
]
