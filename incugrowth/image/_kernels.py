"""The image module's compiled loops (numba) under one name, for code that imports them from here.

Each loop is a plain pass over the pixels that NumPy cannot express without several
whole-frame temporaries (or at all, as the flood). They live in one module per algorithm:
:mod:`~incugrowth.image._flood` (the watershed flood), :mod:`~incugrowth.image._distance`
(distance transform, inscribed radius), :mod:`~incugrowth.image._labels` (per-label passes),
:mod:`~incugrowth.image._pixels` (per-pixel passes of the segmenter) and
:mod:`~incugrowth.image._histogram` (histograms, sums, medians); :mod:`~incugrowth.image._jit`
compiles them.
"""

from __future__ import annotations

from incugrowth.image._distance import distance, inscribed_radius
from incugrowth.image._flood import flood, flood_regions, pairs_within, relabel_within
from incugrowth.image._histogram import (
    bin_counts,
    histogram_sums,
    median_deviation,
    pairwise_sum,
    sum_above,
)
from incugrowth.image._labels import (
    boundary_pairs,
    cut_below,
    cut_below_within,
    join_shallow,
    label_count,
    label_max,
    object_stats,
    relabel_max,
)
from incugrowth.image._pixels import above_fraction, local_tops, relief_of, sample_outside

#: The modules that hold the compiled loops.
MODULES = ("_distance", "_flood", "_histogram", "_labels", "_pixels")

__all__ = [
    "above_fraction",
    "bin_counts",
    "boundary_pairs",
    "cut_below",
    "cut_below_within",
    "distance",
    "flood",
    "flood_regions",
    "histogram_sums",
    "inscribed_radius",
    "join_shallow",
    "label_count",
    "label_max",
    "local_tops",
    "median_deviation",
    "object_stats",
    "pairwise_sum",
    "pairs_within",
    "relabel_max",
    "relabel_within",
    "relief_of",
    "sample_outside",
    "sum_above",
]
