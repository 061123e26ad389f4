"""Figures: growth curves per cell line in the style of the reference study's Figure 4.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state), so they work
headless, in scripts and in Jupyter alike.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from incugrowth._io import atomic_path

__all__ = [
    "STYLE",
    "condition_label",
    "style",
    "growth_curve_figure",
    "n_wells_text",
    "own_controls",
    "plot_growth_curves",
    "save_figure",
    "slug",
    "treatment_colors",
]

# Okabe-Ito: distinguishable with the common colour-vision deficiencies and in greyscale print.
_OKABE_ITO = [
    "#000000",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#999999",
    "#D55E00",
    "#0072B2",
    "#CC79A7",
    "#F0E442",
]
_KNOWN = {
    "untreated": "#000000",
    "ifn alfa": "#E69F00",
    "ifn alpha": "#E69F00",
    "ifn beta": "#56B4E9",
    "ifn gamma": "#009E73",
    "lipofectamine": "#999999",
    "2'3'-cgamp": "#D55E00",
}

STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
}


def treatment_colors(treatments, control: str = "untreated") -> dict[str, str]:
    """A fixed colour per treatment, the same in every panel and figure.

    Known treatments of the reference study keep their colour; others take the remaining
    Okabe-Ito colours in order of first appearance.

    Examples
    --------
    >>> treatment_colors(["IFN gamma", "untreated", "drug X"])
    {'IFN gamma': '#009E73', 'untreated': '#000000', 'drug X': '#0072B2'}
    """
    colors: dict[str, str] = {}
    used = set()
    for t in treatments:
        known = _KNOWN.get(str(t).lower())
        if known is not None and t not in colors:
            colors[t] = known
            used.add(known)
    spare = [c for c in _OKABE_ITO if c not in used and c not in _KNOWN.values()]
    spare += [c for c in _OKABE_ITO if c not in used and c not in spare]
    for t in treatments:
        if t not in colors:
            colors[t] = spare.pop(0) if spare else _OKABE_ITO[len(colors) % len(_OKABE_ITO)]
    return colors


def condition_label(row: pd.Series | dict, multi_dose: bool) -> str:
    """Legend text: the treatment, with its dose when the treatment has several doses."""
    label = str(row["treatment"])
    dose = row.get("dose", np.nan)
    if multi_dose and dose == dose and dose is not None:
        unit = row.get("dose_unit", "")
        unit = "" if unit is None or unit != unit else f" {unit}"
        label += f" {dose:g}{unit}"
    return label


def slug(text: str) -> str:
    """File-name-safe form of a cell-line name.

    Examples
    --------
    >>> slug("M407 JAK1-KO")
    'M407_JAK1-KO'
    """
    return re.sub(r"[^A-Za-z0-9.-]+", "_", str(text)).strip("_") or "unnamed"


def plot_growth_curves(
    ax,
    curves: pd.DataFrame,
    *,
    colors: dict[str, str] | None = None,
    stars: dict[str, str] | None = None,
    error: str = "sd",
    ylabel: str = "Change in cell count (%)",
    control: str = "untreated",
    endpoint_h: float | None = None,
) -> None:
    """Draw mean +/- ``error`` curves of one cell line on ``ax``, one line per condition.

    ``stars`` maps a treatment to its endpoint annotation (``***``, ``NS``, ...), written
    beside its curve at ``endpoint_h`` (marked by a dashed line; the last time point when not
    given), moved apart where curves end close together.
    """
    treatments = list(dict.fromkeys(curves["treatment"]))
    colors = colors or treatment_colors(treatments)
    has_dose = "dose" in curves.columns
    multi = has_dose and curves.groupby("treatment")["dose"].nunique().gt(1).any()
    keys = ["treatment", "dose"] if has_dose else ["treatment"]
    # Doses of one treatment share its colour, lighter for lower doses.
    dose_rank = {}
    if multi:
        for treatment, doses in curves.groupby("treatment")["dose"]:
            levels = np.sort(doses.dropna().unique())
            if len(levels) > 1:
                dose_rank[treatment] = {d: (i + 1) / len(levels) for i, d in enumerate(levels)}
    groups = list(curves.groupby(keys, sort=False, dropna=False))
    # The control is drawn first so that it leads the legend, as in the study's figures.
    groups.sort(key=lambda g: g[1]["treatment"].iloc[0] != control)
    labels: list[tuple[float, float, str, str]] = []
    for _, sub in groups:
        sub = sub.sort_values("elapsed_h")
        first = sub.iloc[0]
        color = colors.get(first["treatment"], "#333333")
        if multi and first["treatment"] in dose_rank:
            color = _shade(color, dose_rank[first["treatment"]].get(first["dose"], 1.0))
        err = sub[error].fillna(0.0).to_numpy() if error in sub else None
        ax.errorbar(
            sub["elapsed_h"],
            sub["mean"],
            yerr=err,
            color=color,
            marker="o",
            markersize=3,
            linewidth=1.2,
            capsize=2,
            elinewidth=0.8,
            label=condition_label(first, multi),
        )
        # A dose of a dose series is compared on its own ("IFN gamma 10 ng/ml").
        mark = (stars or {}).get(condition_label(first, multi)) or (stars or {}).get(
            first["treatment"]
        )
        at = _value_at(sub, endpoint_h) if mark else None
        if at is not None:
            labels.append((at[1], at[0], mark, color))
    if endpoint_h is not None:
        _mark_endpoint(ax, endpoint_h)
    _place_stars(ax, labels)
    ax.axhline(0, color="#bbbbbb", linewidth=0.6, zorder=0)
    ax.set_xlabel("Time (h)")
    ax.set_ylabel(ylabel)
    tmax = curves["elapsed_h"].max()
    if tmax == tmax and tmax > 0:
        step = 24 if tmax >= 48 else max(1, round(tmax / 4))
        ax.set_xticks(np.arange(0, tmax + step / 2, step))


def growth_curve_figure(
    curves: pd.DataFrame,
    *,
    cell_lines=None,
    stars: pd.DataFrame | None = None,
    ncols: int = 3,
    error: str = "sd",
    ylabel: str = "Change in cell count (%)",
    panel_size: tuple[float, float] = (3.2, 2.6),
    control: str = "untreated",
    endpoint_h: float | None = None,
    replicates: str = "wells",
    sharey: bool = False,
    scale: str = "pct",
) -> Figure:
    """One panel per cell line: mean +/- SD per treatment over time (Figure 4 style).

    Parameters
    ----------
    curves : DataFrame
        The curves table (``cell_line``, ``treatment``, ``elapsed_h``, ``mean``, ``sd``, ...).
    cell_lines : list, optional
        Panels to draw and their order (default: order of appearance).
    stars : DataFrame, optional
        The dunnett table; its ``stars`` are written beside each curve at ``endpoint_h``.
    ncols : int
        Panels per row.
    error : {"sd", "sem"}
        The column of ``curves`` drawn as error bars; the legend says which, and over how
        many wells (``n_wells``).
    control : str
        The control treatment, drawn first and so first in the legend.
    endpoint_h : float, optional
        The hour the comparisons in ``stars`` were made at (``endpoint_h`` of the endpoint
        table): a dashed line marks it and the marks sit at the curves' values there. Without
        it they sit at the last time point.
    replicates : {"wells", "plates"}
        What the error bars are across: the legend counts them from ``n_wells`` or
        ``n_plates`` (curves of combined plates).
    sharey : bool
        One y axis for every panel, to compare cell lines (default: each panel its own).
    scale : {"pct", "log2"}
        The scale the comparisons in ``stars`` were made on, named in the legend when it is
        log2 fold change. A treatment compared with a control other than ``control`` (the
        ``control`` column of ``stars``) is named with it in the legend:
        "2'3'-cGAMP (vs. Lipofectamine)".

    Examples
    --------
    >>> curves = pd.DataFrame({"cell_line": "M420", "n_wells": 3,
    ...                        "treatment": ["untreated", "untreated", "IFN gamma", "IFN gamma"],
    ...                        "elapsed_h": [0.0, 72.0] * 2, "mean": [0.0, 310.0, 0.0, 60.0],
    ...                        "sd": [0.0, 20.0, 0.0, 9.0]})
    >>> dunnett = pd.DataFrame({"cell_line": ["M420"], "treatment": ["IFN gamma"],
    ...                         "stars": ["***"]})
    >>> fig = growth_curve_figure(curves, stars=dunnett, endpoint_h=72)
    >>> print(fig.legends[0].get_title().get_text())
    Mean ± SD of n = 3 wells
    marks: Dunnett vs. untreated, 72 h
    """
    with style():
        lines = (
            list(cell_lines) if cell_lines is not None else list(dict.fromkeys(curves["cell_line"]))
        )
        colors = treatment_colors(list(dict.fromkeys(curves["treatment"])))
        ncols = max(1, min(ncols, len(lines)))
        nrows = max(1, math.ceil(len(lines) / ncols))
        fig = Figure(figsize=(panel_size[0] * ncols + 1.6, panel_size[1] * nrows), dpi=150)
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey)
        for ax, line in zip(axes.flat, lines):
            star_map = _stars_for(stars, line)
            plot_growth_curves(
                ax,
                curves[curves["cell_line"] == line],
                colors=colors,
                stars=star_map,
                error=error,
                ylabel=ylabel,
                control=control,
                endpoint_h=endpoint_h,
            )
            ax.set_title(str(line))
            if sharey and ax not in axes[:, 0]:
                ax.set_ylabel("")
        for ax in list(axes.flat)[len(lines) :]:
            ax.set_visible(False)
        handles, labels = _legend_entries(axes.flat)
        own = own_controls(stars, control)
        labels = [f"{lab} (vs. {own[lab]})" if lab in own else lab for lab in labels]
        shown = curves[curves["cell_line"].isin(lines)]
        title = f"Mean \u00b1 {error.upper()}"
        n = n_wells_text(shown, f"n_{replicates}")
        if n == "1":
            title = f"One {replicates[:-1]} per condition"
        elif n:
            title += f" of n = {n} {replicates}"
        if any(_stars_for(stars, line) for line in lines):
            on = " on log2 fold change" if scale == "log2" else ""
            title += f"\nmarks: Dunnett vs. {control}{on}" + (
                f", {endpoint_h:g} h" if endpoint_h is not None else ", last time point"
            )
        fig.legend(
            handles,
            labels,
            loc="outside right center",
            frameon=False,
            title=title,
            title_fontsize=7,
            alignment="left",
        )
        fig.set_layout_engine("constrained")
    return fig


def own_controls(dunnett: pd.DataFrame | None, control: str) -> dict[str, str]:
    """The treatments of a dunnett table compared with another control than ``control``,
    with that control: ``{"2'3'-cGAMP": "Lipofectamine"}``.

    Examples
    --------
    >>> d = pd.DataFrame({"treatment": ["IFN beta", "2'3'-cGAMP"],
    ...                   "control": ["untreated", "Lipofectamine"]})
    >>> own_controls(d, "untreated")
    {"2'3'-cGAMP": 'Lipofectamine'}
    """
    if dunnett is None or dunnett.empty or "control" not in dunnett.columns:
        return {}
    pairs = dunnett[["treatment", "control"]].drop_duplicates()
    pairs = pairs[pairs["control"].astype(str) != str(control)]
    return dict(zip(pairs["treatment"].astype(str), pairs["control"].astype(str)))


def n_wells_text(curves: pd.DataFrame, column: str = "n_wells") -> str:
    """The number of wells behind each point of ``curves``: ``"3"``, or a range ``"2-3"``.

    Examples
    --------
    >>> n_wells_text(pd.DataFrame({"n_wells": [3, 3, 2]}))
    '2\u20133'
    >>> n_wells_text(pd.DataFrame({"mean": [1.0]}))
    ''
    """
    if column not in curves.columns:
        return ""
    n = pd.to_numeric(curves[column], errors="coerce")
    n = n[n > 0]
    if n.empty:
        return ""
    lo, hi = int(n.min()), int(n.max())
    return f"{lo}" if lo == hi else f"{lo}\u2013{hi}"


def _shade(color: str, strength: float) -> tuple[float, float, float]:
    """``color`` mixed with white: full colour at strength 1, pale towards 0."""
    from matplotlib.colors import to_rgb

    mix = 0.15 + 0.85 * strength
    return tuple(1 - mix * (1 - c) for c in to_rgb(color))


def _value_at(sub: pd.DataFrame, hours: float | None):
    """(time, mean) of the curve at ``hours`` (nearest point), or its last point."""
    sub = sub.dropna(subset=["mean"])
    if sub.empty:
        return None
    i = (sub["elapsed_h"] - hours).abs().idxmin() if hours is not None else sub.index[-1]
    return float(sub.at[i, "elapsed_h"]), float(sub.at[i, "mean"])


def _mark_endpoint(ax, hours: float) -> None:
    ax.axvline(hours, color="#888888", linestyle="--", linewidth=0.7, zorder=0)
    ax.text(
        hours,
        0.98,
        f"endpoint {hours:g} h ",
        rotation=90,
        ha="right",
        va="top",
        fontsize=6.5,
        color="#666666",
        transform=ax.get_xaxis_transform(),
    )


def _place_stars(ax, labels) -> None:
    """Each label just right of its curve's point at the endpoint, in the curve's colour,
    nudged apart vertically only where two would overlap. (Their hour is on the dashed line
    at the endpoint and in the legend's title.)"""
    if not labels:
        return
    from matplotlib.transforms import ScaledTranslation

    lo, hi = ax.get_ylim()
    gap = 0.065 * (hi - lo)
    labels = sorted(labels)
    right = ax.transData + ScaledTranslation(4 / 72, 0, ax.figure.dpi_scale_trans)
    for (_, x, text, color), y_text in zip(labels, _spread([lab[0] for lab in labels], gap)):
        ax.text(
            x,
            y_text,
            text,
            va="center",
            ha="left",
            fontsize=7,
            fontweight="bold",
            color=color,
            transform=right,
            clip_on=False,
            bbox={
                "boxstyle": "square,pad=0.1",
                "facecolor": "white",
                "edgecolor": "none",
                "alpha": 0.75,
            },
        )


def _spread(ys: list[float], gap: float) -> list[float]:
    """Positions for labels at the sorted heights ``ys``, at least ``gap`` apart: labels
    that crowd together form a stack centred on the points they label; the others stay at
    their points.

    Examples
    --------
    >>> _spread([0.0, 1.0, 10.0], gap=2.0)
    [-0.5, 1.5, 10.0]
    """
    stacks: list[list[float]] = []
    for y in ys:
        stacks.append([y])
        # a stack that now overlaps the one below merges with it (and is centred again)
        while len(stacks) > 1:
            low, high = stacks[-2], stacks[-1]
            top_of_low = _centred(low, gap)[-1]
            if _centred(high, gap)[0] - top_of_low >= gap:
                break
            stacks[-2:] = [low + high]
    return [y for stack in stacks for y in _centred(stack, gap)]


def _centred(points: list[float], gap: float) -> list[float]:
    start = float(np.mean(points)) - gap * (len(points) - 1) / 2
    return [start + i * gap for i in range(len(points))]


def _legend_entries(axes):
    seen: dict[str, object] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    return list(seen.values()), list(seen.keys())


def _stars_for(dunnett: pd.DataFrame | None, cell_line) -> dict[str, str] | None:
    if dunnett is None or dunnett.empty or "cell_line" not in dunnett.columns:
        return None
    sub = dunnett[dunnett["cell_line"] == cell_line]
    return dict(zip(sub["treatment"], sub["stars"]))


def style():
    """Context manager applying the publication style (:data:`STYLE`) to figures built in it."""
    import matplotlib as mpl

    return mpl.rc_context(STYLE)


def save_figure(
    fig: Figure, stem: str | os.PathLike, formats=("png", "svg", "pdf"), dpi: int = 200
) -> list[Path]:
    """Save ``fig`` as ``stem.<format>`` for each format, atomically. Returns the paths."""
    stem = Path(stem)
    paths = []
    with style():
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=_metadata(fmt))
            paths.append(path)
    return paths


def _metadata(fmt: str) -> dict:
    # Fixed metadata keeps reruns byte-identical (no creation dates).
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    if fmt == "png":
        return {"Software": None}
    return {}
