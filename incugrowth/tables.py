"""Names and files of the output tables of a run, and the words for its growth measure.

Shared by :mod:`incugrowth.pipeline`, which writes the tables, and :mod:`incugrowth.report`,
which reads them, so that neither imports the other.
"""

from __future__ import annotations

__all__ = ["TABLES", "measure_word"]

#: Tables written by `run`, in order, with their file names.
TABLES = (
    "counts",
    "sizes",
    "growth",
    "curves",
    "curves_vs_control",
    "endpoint",
    "growth_rates",
    "dip",
    "gr",
    "dose_response",
    "anova",
    "dunnett",
    "dunnett_log2",
    "dunnett_pct",
    "assumptions",
    "edge_effects",
    "dunnett_by_time",
    "rm_anova",
    "dead",
    "dead_curves",
    "anova_dead",
    "dunnett_dead",
    "effects",
)


def measure_word(measure: str) -> str:
    """The growth measure in words: ``"cell count"`` or ``"confluence"``."""
    return "confluence" if measure == "confluence" else "cell count"
