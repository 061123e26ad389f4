"""incugrowth: IncuCyte live-cell imaging to counts, growth curves, statistics and a report.

The pipeline, one module a stage::

    import incugrowth as ig
    counts = ig.exports.export_to_counts(ig.read_export("export_red_count.txt"))
    plate = ig.read_plate_map("plate_map.csv")
    growth = ig.kinetics.growth_table(counts, plate)
    curves = ig.kinetics.condition_curves(growth)
    end = ig.kinetics.endpoint(growth, 72)          # endpoint_h: the hour actually used
    stats = ig.stats.endpoint_statistics(end, control="untreated",
                                         controls={"2'3'-cGAMP": "Lipofectamine"})
    stats["anova"], stats["dunnett"]
    fig = ig.plots.growth_curve_figure(curves, stars=stats["dunnett"],
                                       endpoint_h=end["endpoint_h"].iloc[0])

``ig.pipeline.run(...)`` does all of it and writes the tables, figures and ``report.html``;
``ig.combine_runs([...run folders...], outdir)`` combines repeated plates (plate = replicate).
"""

from __future__ import annotations

import importlib

from incugrowth.errors import IncugrowthError, IncugrowthWarning

__version__ = "0.1.0"

# Public names resolved on first use, so `import incugrowth` stays fast and a notebook
# that only reads exports never pays for scikit-image.
_LAZY = {
    "read_export": ("incugrowth.exports", "read_export"),
    "read_plate_map": ("incugrowth.platemap", "read_plate_map"),
    "find_frames": ("incugrowth.frames", "find_frames"),
    "combine_runs": ("incugrowth.combine", "combine_runs"),
}
_SUBMODULES = {
    "exports",
    "platemap",
    "frames",
    "image",
    "kinetics",
    "stats",
    "simulate",
    "plots",
    "report",
    "pipeline",
    "batch",
    "dead",
    "dead_figures",
    "dip",
    "doseresponse",
    "prism",
    "config",
    "report_figures",
    "cli",
    "combine",
    "dish",
    "platemap_checks",
    "qc_plate",
    "tables",
}

__all__ = [
    "IncugrowthError",
    "IncugrowthWarning",
    "__version__",
    "combine_runs",
    "find_frames",
    "read_export",
    "read_plate_map",
]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"incugrowth.{name}")
    raise AttributeError(f"module 'incugrowth' has no attribute {name!r}")


def __dir__():
    # What a user can reach (tab completion), not the helpers of this module.
    return sorted(set(__all__) | _SUBMODULES | {"errors"})
