"""Figures of the dead-cell channel: dead-fraction curves per cell line, Figure 4 layout."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["DEAD_YLABEL", "dead_fraction_figure", "save_dead_figures"]

#: The y axis of the dead-fraction curves.
DEAD_YLABEL = "Dead cells (% of all cells)"


def dead_fraction_figure(
    dead_curves: pd.DataFrame,
    *,
    stars: pd.DataFrame | None = None,
    cell_lines=None,
    control: str = "untreated",
    endpoint_h: float | None = None,
):
    """One panel per cell line: the mean dead fraction +/- SD per treatment over time.

    The layout of the growth curves (:func:`incugrowth.plots.growth_curve_figure`); the
    marks are the stars of ``dunnett_dead.csv`` at the endpoint.

    Examples
    --------
    >>> curves = pd.DataFrame({"cell_line": "M420", "n_wells": 3,
    ...                        "treatment": ["untreated", "untreated", "kill", "kill"],
    ...                        "elapsed_h": [0.0, 72.0] * 2, "mean": [5.0, 5.0, 5.0, 80.0],
    ...                        "sd": [0.5, 0.5, 0.5, 4.0]})
    >>> stars = pd.DataFrame({"cell_line": ["M420"], "treatment": ["kill"], "stars": ["***"]})
    >>> fig = dead_fraction_figure(curves, stars=stars, endpoint_h=72)
    >>> fig.axes[0].get_ylabel()
    'Dead cells (% of all cells)'
    """
    from incugrowth import plots

    return plots.growth_curve_figure(
        dead_curves,
        cell_lines=cell_lines,
        stars=stars,
        control=control,
        endpoint_h=endpoint_h,
        ylabel=DEAD_YLABEL,
    )


def save_dead_figures(tables: dict, figdir: Path, control: str) -> list[Path]:
    """``dead_fraction`` (every cell line) and ``dead_fraction_<cell line>`` in `figdir`
    (PNG, SVG, PDF), when `tables` has ``dead_curves``; returns the paths written."""
    from incugrowth import plots

    curves = tables.get("dead_curves")
    if curves is None or curves.empty:
        return []
    stars = tables.get("dunnett_dead")
    end = tables.get("endpoint")
    at = float(end["endpoint_h"].iloc[0]) if end is not None and len(end) else None
    options = dict(stars=stars, control=control, endpoint_h=at)
    paths = plots.save_figure(dead_fraction_figure(curves, **options), figdir / "dead_fraction")
    for line in dict.fromkeys(curves["cell_line"]):
        fig = dead_fraction_figure(curves, cell_lines=[line], **options)
        paths += plots.save_figure(fig, figdir / f"dead_fraction_{plots.slug(line)}")
    return paths
