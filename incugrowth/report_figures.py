"""Figures of the report: plate map, dot plots, plate and GR heat maps, dose-response, frames.

Growth curves live in :mod:`incugrowth.plots`; the figures here reuse its colours and style so
that a treatment has one colour everywhere. Like :mod:`incugrowth.plots`, every figure is a
:class:`matplotlib.figure.Figure` built without pyplot state.
"""

from __future__ import annotations

import math
import re
import textwrap

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Patch
from matplotlib.ticker import MaxNLocator

from incugrowth.plots import style, treatment_colors

__all__ = [
    "contrast_stretch",
    "dose_response_figure",
    "endpoint_figure",
    "frame_gallery_figure",
    "gr_heatmap_figure",
    "outline_nuclei",
    "plate_heatmap_figure",
    "plate_map_figure",
    "plate_shape",
    "well_position",
]

_WELL_RE = re.compile(r"^\s*([A-Za-z]{1,2})\s*0*(\d+)\s*$")
_EMPTY_WELL = "#eeeeee"
_STAR_LEVELS = ("***", "**", "*")


def well_position(well: str) -> tuple[int, int]:
    """0-based (row, column) of a well name.

    Examples
    --------
    >>> well_position("B3"), well_position("P24")
    ((1, 2), (15, 23))
    """
    m = _WELL_RE.match(str(well))
    if m is None:
        raise ValueError(f"`well` must look like 'B3', got {well!r}")
    letters, number = m.group(1).upper(), int(m.group(2))
    row = 0
    for ch in letters:
        row = row * 26 + (ord(ch) - 64)
    return row - 1, number - 1


def plate_shape(wells) -> tuple[int, int]:
    """Rows x columns of the smallest standard plate (96 or 384 wells) holding ``wells``.

    Examples
    --------
    >>> plate_shape(["B2", "G11"]), plate_shape(["B2", "J20"])
    ((8, 12), (16, 24))
    """
    rows, cols = zip(*(well_position(w) for w in wells)) if len(wells) else ((0,), (0,))
    if max(rows) < 8 and max(cols) < 12:
        return 8, 12
    if max(rows) < 16 and max(cols) < 24:
        return 16, 24
    return max(rows) + 1, max(cols) + 1


def _text_color(fill: str) -> str:
    r, g, b = to_rgb(fill)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


def _plate_size(shape: tuple[int, int], extra_width: float) -> tuple[float, float]:
    """Figure size in inches giving round wells: a fixed well pitch plus room for labels."""
    pitch = 0.55 if shape[1] <= 12 else 0.3
    return pitch * shape[1] + 0.5 + extra_width, pitch * shape[0] + 0.55


def _plate_axes(ax, shape: tuple[int, int]) -> None:
    n_rows, n_cols = shape
    ax.set_xlim(-0.6, n_cols - 0.4)
    ax.set_ylim(n_rows - 0.4, -0.6)
    ax.set_aspect("equal")
    ax.set_xticks(range(n_cols), [str(c + 1) for c in range(n_cols)])
    ax.set_yticks(range(n_rows), [chr(65 + r) for r in range(n_rows)])
    ax.tick_params(length=0, labelsize=8 if n_cols <= 12 else 6)
    ax.xaxis.tick_top()
    for side in ax.spines.values():
        side.set_visible(False)


def _cell_line_labels(names, max_chars: int) -> tuple[dict[str, str], bool]:
    """Text written in a well: every name on at most two short lines, or else short codes.

    Returns the labels and whether they are codes (which then need a key beside the plate).
    """
    labels = {}
    for name in names:
        wrapped = textwrap.wrap(str(name), max_chars, break_on_hyphens=True)
        if len(wrapped) > 2 or any(len(w) > max_chars for w in wrapped):
            return {n: f"L{i + 1}" for i, n in enumerate(names)}, True
        labels[name] = "\n".join(wrapped)
    return labels, False


def plate_map_figure(
    plate: pd.DataFrame,
    *,
    colors: dict[str, str] | None = None,
    shape: tuple[int, int] | None = None,
    control: str = "untreated",
) -> Figure:
    """The plate as a grid of wells, filled with the treatment colour, labelled by cell line.

    Parameters
    ----------
    plate : DataFrame
        One row a well: ``well``, ``cell_line``, ``treatment``.
    colors : dict, optional
        Treatment colours (default :func:`incugrowth.plots.treatment_colors`).
    shape : (rows, columns), optional
        Plate shape (default: 8 x 12, or 16 x 24 when a well lies outside 8 x 12).

    Examples
    --------
    >>> plate = pd.DataFrame({"well": ["B2", "B3"], "cell_line": ["M420", "M420"],
    ...                       "treatment": ["untreated", "IFN gamma"]})
    >>> fig = plate_map_figure(plate)
    >>> len(fig.axes[0].patches)
    96
    """
    plate = plate.drop_duplicates("well")
    shape = shape or plate_shape(list(plate["well"]))
    treatments = list(dict.fromkeys(plate["treatment"]))
    treatments.sort(key=lambda t: t != control)
    colors = colors or treatment_colors(treatments)
    lines = list(dict.fromkeys(plate["cell_line"]))
    small = shape[1] > 12
    labels, coded = _cell_line_labels(lines, 5 if small else 8)
    with style():
        fig = Figure(
            figsize=_plate_size(shape, 1.7 if not coded else 2.4), dpi=150, layout="constrained"
        )
        ax = fig.subplots()
        _plate_axes(ax, shape)
        used = {well_position(w): row for w, row in zip(plate["well"], plate.to_dict("records"))}
        for r in range(shape[0]):
            for c in range(shape[1]):
                rec = used.get((r, c))
                fill = colors.get(rec["treatment"], "#333333") if rec else _EMPTY_WELL
                ax.add_patch(
                    Circle((c, r), 0.46, facecolor=fill, edgecolor="#777777", linewidth=0.4)
                )
                if rec:
                    ax.text(
                        c,
                        r,
                        labels[rec["cell_line"]],
                        ha="center",
                        va="center",
                        fontsize=3.4 if small else 5.6,
                        color=_text_color(fill),
                        linespacing=1.0,
                    )
        handles = [
            Patch(facecolor=colors[t], edgecolor="#777777", label=str(t)) for t in treatments
        ]
        handles.append(Patch(facecolor=_EMPTY_WELL, edgecolor="#777777", label="not in the map"))
        fig.legend(
            handles=handles,
            loc="outside right upper",
            frameon=False,
            title="Treatment (fill)",
            fontsize=8,
        )
        if coded:
            text = "\n".join(f"{labels[name]} = {name}" for name in lines)
            fig.text(0.99, 0.02, "Cell line (text)\n" + text, ha="right", va="bottom", fontsize=7)
    return fig


def plate_heatmap_figure(
    values: pd.Series,
    *,
    label: str,
    cmap: str = "viridis",
    fmt: str = "{:.0f}",
    shape: tuple[int, int] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    integer: bool = False,
) -> Figure:
    """A plate heat map: one value per well (a Series indexed by well), written in the well.

    Wells without a value are left light grey; ``integer`` keeps colour-bar ticks whole.

    Examples
    --------
    >>> fig = plate_heatmap_figure(pd.Series({"B2": 120.0, "C5": 80.0}), label="cells")
    >>> int(fig.axes[0].images[0].get_array().count())
    2
    """
    values = values.dropna()
    shape = shape or plate_shape(list(values.index))
    grid = np.full(shape, np.nan)
    for well, v in values.items():
        r, c = well_position(well)
        grid[r, c] = float(v)
    small = shape[1] > 12
    with style():
        fig = Figure(figsize=_plate_size(shape, 1.1), dpi=150, layout="constrained")
        ax = fig.subplots()
        _plate_axes(ax, shape)
        ax.set_facecolor(_EMPTY_WELL)
        masked = np.ma.masked_invalid(grid)
        im = ax.imshow(masked, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        norm, cm = im.norm, im.get_cmap()
        if values.size:
            for (r, c), v in np.ndenumerate(grid):
                if v == v:
                    rgba = cm(norm(v))
                    lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
                    ax.text(
                        c,
                        r,
                        fmt.format(v),
                        ha="center",
                        va="center",
                        fontsize=3.8 if small else 7,
                        color="black" if lum > 0.55 else "white",
                    )
        bar = fig.colorbar(im, ax=ax, label=label, fraction=0.04, pad=0.02, aspect=25)
        if integer:
            bar.locator = MaxNLocator(integer=True)
            bar.update_ticks()
    return fig


def endpoint_figure(
    endpoint: pd.DataFrame,
    *,
    value: str = "pct_change",
    stars: pd.DataFrame | None = None,
    cell_lines=None,
    control: str = "untreated",
    ncols: int = 3,
    ylabel: str = "Change in cell count (%)",
    panel_size: tuple[float, float] = (3.0, 2.8),
    x: str = "treatment",
    order=None,
    colors: dict[str, str] | None = None,
    endpoint_h: float | None = None,
    scale: str = "pct",
) -> Figure:
    """Each well's value as a dot, with the mean and SD bars; one panel per cell line.

    The figure's title says the hour (``endpoint_h``) and what the marks compare: each
    treatment with ``control``, or with its own control where ``stars`` names another
    ("2'3'-cGAMP vs. Lipofectamine"), on ``scale`` ("pct" or "log2" fold change).

    Dots take the fixed colour of their treatment. ``x`` names the column whose values are
    the groups along the x axis (the treatment, or a condition label that adds the dose), in
    ``order`` when given. ``stars`` (the dunnett table) puts each comparison's significance
    above the group it names (a treatment, or one dose of a dose series as
    ``incugrowth run`` compares them, "IFN gamma 10 ng/ml"); a comparison naming a treatment
    that spans several groups (doses compared together) gets one mark above a bracket.

    Examples
    --------
    >>> end = pd.DataFrame({"cell_line": ["M420"] * 4, "well": ["B2", "B3", "B4", "B5"],
    ...                     "treatment": ["untreated", "untreated", "IFN gamma", "IFN gamma"],
    ...                     "pct_change": [300.0, 320.0, 50.0, 70.0]})
    >>> fig = endpoint_figure(end)
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['untreated', 'IFN gamma']
    >>> print(endpoint_figure(end, endpoint_h=72.0).get_suptitle())
    At 72 h
    """
    lines = (
        list(cell_lines) if cell_lines is not None else list(dict.fromkeys(endpoint["cell_line"]))
    )
    treatment_of = dict(zip(endpoint[x], endpoint["treatment"]))
    if order is None:
        order = list(dict.fromkeys(endpoint[x]))
        order.sort(key=lambda g: treatment_of[g] != control)
    treatments = list(dict.fromkeys(treatment_of[g] for g in order if g in treatment_of))
    colors = colors or treatment_colors(treatments)
    data = endpoint[value].to_numpy(dtype=float)
    top = np.nanmax(data) if np.isfinite(data).any() else 0.0
    bottom = np.nanmin(data) if np.isfinite(data).any() else 0.0
    span = (top - bottom) or 1.0
    with style():
        ncols = max(1, min(ncols, len(lines)))
        nrows = max(1, math.ceil(len(lines) / ncols))
        fig = Figure(
            figsize=(panel_size[0] * ncols, panel_size[1] * nrows + 0.3),
            dpi=150,
            layout="constrained",
        )
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
        for ax, line in zip(axes.flat, lines):
            sub = endpoint[endpoint["cell_line"] == line]
            present = [g for g in order if (sub[x] == g).any()]
            tops = {}
            for i, g in enumerate(present):
                vals = sub.loc[sub[x] == g, value].dropna().to_numpy(dtype=float)
                _dots(ax, i, vals, colors.get(treatment_of[g], "#333333"))
                if vals.size:
                    tops[i] = vals.max()
            for t, mark in _stars_for(stars, line).items():
                where = _groups_of(t, present, treatment_of)
                where = [i for i in where if i in tops]
                if mark and where:
                    _mark(ax, where, max(tops[i] for i in where) + 0.06 * span, mark, span)
            ax.set_xticks(range(len(present)), [str(g) for g in present])
            ax.tick_params(axis="x", labelrotation=40, labelsize=7)
            for lab in ax.get_xticklabels():
                lab.set_horizontalalignment("right")
                lab.set_rotation_mode("anchor")
            ax.set_xlim(-0.6, len(present) - 0.4)
            ax.axhline(0, color="#bbbbbb", linewidth=0.6, zorder=0)
            ax.set_title(str(line))
        for ax in axes[:, 0]:
            ax.set_ylabel(ylabel)
        if len(endpoint):
            axes[0, 0].set_ylim(min(bottom, 0) - 0.08 * span, top + 0.2 * span)
        for ax in list(axes.flat)[len(lines) :]:
            ax.set_visible(False)
        title = _endpoint_title(stars, control, endpoint_h, scale)
        if title:
            fig.suptitle(title, fontsize=8, ha="left", x=0.01)
    return fig


def _endpoint_title(stars, control: str, endpoint_h, scale: str) -> str:
    """'At 72 h; marks: Dunnett vs. untreated; 2'3'-cGAMP vs. Lipofectamine'."""
    from incugrowth.plots import own_controls

    parts = [f"At {endpoint_h:g} h"] if endpoint_h is not None else []
    if stars is not None and len(stars) and "stars" in stars.columns:
        on = " on log2 fold change" if scale == "log2" else ""
        marks = f"marks: Dunnett vs. {control}{on}"
        own = own_controls(stars, control)
        marks += "".join(f"; {t} vs. {c}" for t, c in own.items())
        parts.append(marks)
    return "; ".join(parts)


def _groups_of(compared, present: list, treatment_of: dict) -> list[int]:
    """Positions of the groups a comparison covers: the group of that name (one dose of a
    dose series, "IFN gamma 10 ng/ml", or a treatment), else every group of that treatment
    (doses compared together)."""
    own = [i for i, g in enumerate(present) if g == compared]
    return own or [i for i, g in enumerate(present) if treatment_of[g] == compared]


def _mark(ax, where: list[int], y: float, mark: str, span: float) -> None:
    """A significance mark above one group, or above a bracket spanning several."""
    size = 8 if mark in _STAR_LEVELS else 7
    if len(where) > 1:
        ax.hlines(y, min(where) - 0.2, max(where) + 0.2, color="#444444", linewidth=0.7)
        y += 0.02 * span
    ax.text((min(where) + max(where)) / 2, y, mark, ha="center", va="bottom", fontsize=size)


def _dots(ax, x: float, vals: np.ndarray, color: str) -> None:
    n = vals.size
    if n == 0:
        return
    # Fixed, symmetric offsets (no random jitter): the figure is the same on every rerun.
    offsets = np.linspace(-0.16, 0.16, n) if n > 1 else np.zeros(1)
    # The summary is drawn under the dots, so that every well stays visible.
    mean = vals.mean()
    ax.hlines(mean, x - 0.3, x + 0.3, color="#444444", linewidth=1.0, zorder=2)
    if n > 1:
        ax.errorbar(
            x, mean, yerr=vals.std(ddof=1), color="#444444", capsize=3, linewidth=0.8, zorder=2
        )
    ax.scatter(
        x + offsets,
        vals,
        s=24,
        color=color,
        edgecolor="white" if color != "#000000" else "#888888",
        linewidth=0.6,
        zorder=3,
    )


def _stars_for(dunnett: pd.DataFrame | None, cell_line) -> dict:
    if dunnett is None or dunnett.empty or "cell_line" not in dunnett.columns:
        return {}
    sub = dunnett[dunnett["cell_line"] == cell_line]
    return dict(zip(sub["treatment"], sub["stars"]))


def gr_heatmap_figure(
    matrix: pd.DataFrame,
    *,
    label: str = "GR value",
    cmap: str = "RdBu",
    fmt: str = "{:.2f}",
) -> Figure:
    """GR values as a grid: one row per cell line, one column per condition, values written in.

    The colours diverge from white at GR = 0 (cytostatic) to blue at 1 (no effect) and red at
    -1 (every cell killed); values beyond the scale take its end colours, missing ones are
    left grey.

    Examples
    --------
    >>> m = pd.DataFrame({"IFN gamma": [0.25, 1.04]}, index=["M420", "M464"])
    >>> fig = gr_heatmap_figure(m)
    >>> sorted(t.get_text() for t in fig.axes[0].texts)
    ['0.25', '1.04']
    """
    from matplotlib.colors import Normalize

    values = matrix.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    longest = max((len(str(c)) for c in matrix.columns), default=4)
    with style():
        fig = Figure(
            figsize=(max(3.2, 0.78 * n_cols + 2.6), 0.42 * n_rows + 0.9 + 0.05 * longest),
            dpi=150,
            layout="constrained",
        )
        ax = fig.subplots()
        ax.set_facecolor(_EMPTY_WELL)
        norm = Normalize(-1.0, 1.0)
        im = ax.imshow(
            np.ma.masked_invalid(values),
            cmap=cmap,
            norm=norm,
            aspect="auto",
            interpolation="nearest",
        )
        cm = im.get_cmap()
        for (r, c), v in np.ndenumerate(values):
            if v == v:
                ax.text(
                    c,
                    r,
                    fmt.format(v),
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color=_text_color(cm(norm(v))),
                )
        ax.set_xticks(range(n_cols), [str(c) for c in matrix.columns])
        ax.set_yticks(range(n_rows), [str(i) for i in matrix.index])
        ax.tick_params(length=0, labelsize=8)
        ax.tick_params(axis="x", labelrotation=40)
        for lab in ax.get_xticklabels():
            lab.set_horizontalalignment("right")
            lab.set_rotation_mode("anchor")
        for side in ax.spines.values():
            side.set_visible(False)
        bar = fig.colorbar(im, ax=ax, label=label, extend="both", fraction=0.05, pad=0.02)
        bar.set_ticks([-1.0, -0.5, 0.0, 0.5, 1.0])
    return fig


def _response_axis(response: str, measure: str = "cell count") -> str:
    """The y-axis label of a fitted `response` of a run whose growth measure is `measure`."""
    return {
        "gr": "GR value",
        "relative_count": f"Relative {measure}",
        "dip_rate": "DIP rate (doublings/h)",
        "pct_change": f"Change in {measure} (%)",
    }.get(response, str(response))


def dose_response_figure(
    fits: pd.DataFrame,
    points: dict,
    *,
    color: str = "#0072B2",
    control_color: str = "#000000",
    dose_unit: str = "",
    title: str | None = None,
    panel_size: tuple[float, float] = (2.9, 2.6),
    measure: str = "cell count",
) -> Figure:
    """One panel per fitted response of a dose series: each well against dose, and the fit.

    Parameters
    ----------
    fits : DataFrame
        The rows of ``dose_response.csv`` of one series (one per ``response``), with
        ``e0``, ``einf``, ``ec50``, ``hill``, ``flat``, ``ic50``, ``ic_level``, ``min_dose``,
        ``max_dose``.
    points : dict
        Response name -> DataFrame of ``dose`` and ``value``, one row a well. Rows with no
        positive dose (the control wells) are drawn at "control", left of a break in the
        log-dose axis.
    color, control_color : str
        Colours of the treated and the control wells.
    measure : str
        The growth measure in words, for the axis labels: ``"cell count"`` or
        ``"confluence"``.

    The fitted four-parameter log-logistic curve is drawn over the tested doses (a flat fit
    as a dashed horizontal line), and its IC50 (GR50 for GR values) by dotted lines.

    Examples
    --------
    >>> from incugrowth.doseresponse import ll4
    >>> dose = np.repeat([0.1, 1.0, 10.0, 100.0], 2)
    >>> fits = pd.DataFrame({"response": ["gr"], "e0": [1.0], "einf": [0.0], "ec50": [3.0],
    ...                      "hill": [1.0], "flat": [False], "ic50": [3.0], "ic_level": [0.5],
    ...                      "min_dose": [0.1], "max_dose": [100.0]})
    >>> pts = {"gr": pd.DataFrame({"dose": dose, "value": ll4(dose, 1.0, 0.0, 3.0, 1.0)})}
    >>> fig = dose_response_figure(fits, pts, dose_unit="nM")
    >>> fig.axes[0].get_xscale(), fig.axes[0].get_ylabel()
    ('log', 'GR value')
    """
    from incugrowth.doseresponse import ll4

    fits = fits.reset_index(drop=True)
    with style():
        n = max(1, len(fits))
        fig = Figure(
            figsize=(panel_size[0] * n, panel_size[1] + (0.25 if title else 0)),
            dpi=150,
            layout="constrained",
        )
        axes = fig.subplots(1, n, squeeze=False)[0]
        for ax, fit in zip(axes, fits.to_dict("records")):
            lo, hi = float(fit["min_dose"]), float(fit["max_dose"])
            at_ctrl = lo / 10.0
            ax.set_xscale("log")
            data = points.get(fit["response"])
            if data is not None and len(data):
                dose = pd.to_numeric(data["dose"], errors="coerce").to_numpy(dtype=float)
                value = pd.to_numeric(data["value"], errors="coerce").to_numpy(dtype=float)
                treated = np.isfinite(dose) & (dose > 0)
                _log_dots(ax, dose[treated], value[treated], color, filled=True)
                ctrl = np.full((~treated).sum(), at_ctrl)
                _log_dots(ax, ctrl, value[~treated], control_color, filled=False)
            grid = np.logspace(np.log10(lo) - 0.3, np.log10(hi) + 0.3, 200)
            flat = _is_true(fit.get("flat"))
            params = [float(fit[k]) for k in ("e0", "einf", "ec50", "hill")]
            if flat:
                ax.plot(grid, np.full(grid.size, params[0]), "--", color=color, linewidth=1.2)
            elif all(np.isfinite(params)):
                ax.plot(grid, ll4(grid, *params), color=color, linewidth=1.4)
            if fit["response"] in ("gr", "dip_rate", "pct_change"):
                ax.axhline(0, color="#bbbbbb", linewidth=0.6, zorder=0)
            ax.set_xlim(at_ctrl / 10**0.35, hi * 10**0.45)
            _mark_ic50(ax, fit, flat)
            _dose_ticks(ax, lo, hi, at_ctrl)
            ax.set_xlabel(f"Dose ({dose_unit})" if dose_unit else "Dose")
            ax.set_ylabel(_response_axis(fit["response"], measure))
        if title:
            fig.suptitle(title, fontsize=10)
    return fig


def _is_true(v) -> bool:
    return str(v).strip().lower() in ("true", "1", "1.0", "yes")


def _log_dots(ax, dose, value, color, *, filled: bool) -> None:
    if not dose.size:
        return
    # Replicates share a dose: fixed offsets (a few hundredths of a decade) keep them apart.
    _, inverse = np.unique(dose, return_inverse=True)
    rank = np.zeros(dose.size)
    for k in np.unique(inverse):
        idx = np.flatnonzero(inverse == k)
        rank[idx] = np.linspace(-1, 1, idx.size) if idx.size > 1 else 0.0
    ax.scatter(
        dose * 10 ** (0.04 * rank),
        value,
        s=16,
        facecolor=color if filled else "white",
        edgecolor=color if not filled or color != "#000000" else "#888888",
        linewidth=0.8,
        zorder=3,
    )


def _mark_ic50(ax, fit: dict, flat: bool) -> None:
    ic = float(fit.get("ic50", np.nan))
    if flat or not np.isfinite(ic):
        return
    level = float(fit.get("ic_level", np.nan))
    if level != level:
        level = float(fit["e0"]) / 2.0
    (x0, x1), (y0, _) = ax.get_xlim(), ax.get_ylim()
    if not x0 < ic < x1:
        return
    style = {"color": "#666666", "linewidth": 0.8, "linestyle": ":", "zorder": 1}
    ax.plot([x0, ic], [level, level], **style)
    ax.plot([ic, ic], [y0, level], **style)
    ax.set_xlim(x0, x1)
    ax.set_ylim(bottom=y0)


def _dose_ticks(ax, lo: float, hi: float, at_ctrl: float) -> None:
    from matplotlib.ticker import NullLocator

    decades = 10.0 ** np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)
    decades = decades[(decades >= lo / 10**0.35) & (decades <= hi * 10**0.45)]
    ax.set_xticks([at_ctrl, *decades], ["control", *(f"{d:g}" for d in decades)])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.tick_params(axis="x", labelsize=7)
    # Mark the break between the control position and the dose axis.
    brk = np.sqrt(at_ctrl * lo / 10**0.3)
    ax.text(
        brk,
        0,
        "//",
        transform=ax.get_xaxis_transform(),
        ha="center",
        va="center",
        fontsize=8,
        color="#444444",
        clip_on=False,
    )


def contrast_stretch(image: np.ndarray, low: float = 1.0, high: float = 99.5) -> np.ndarray:
    """Float copy of ``image`` scaled so its ``low``-``high`` percentile range fills [0, 1].

    Examples
    --------
    >>> contrast_stretch(np.array([[0, 50], [100, 200]], dtype=np.uint16), 0, 100).tolist()
    [[0.0, 0.25], [0.5, 1.0]]
    """
    img = np.asarray(image, dtype=float)
    if img.size == 0:
        return img.copy()
    lo, hi = np.nanpercentile(img, [low, high])
    if not hi > lo:
        return np.zeros_like(img)
    return np.clip((img - lo) / (hi - lo), 0.0, 1.0)


def outline_nuclei(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    color=(1.0, 0.8, 0.0),
) -> np.ndarray:
    """RGB picture of a frame (contrast-stretched grey) with each labelled nucleus outlined.

    Examples
    --------
    >>> img = np.zeros((7, 7)); img[2:5, 2:5] = 1.0
    >>> rgb = outline_nuclei(img, (img > 0).astype(int))
    >>> rgb.shape, rgb[1, 3].tolist(), rgb[3, 3].tolist()
    ((7, 7, 3), [1.0, 0.8, 0.0], [1.0, 1.0, 1.0])
    """
    from skimage.segmentation import find_boundaries

    if np.shape(image) != np.shape(labels):
        raise ValueError(
            f"`labels` must have the shape of `image` {np.shape(image)}, got {np.shape(labels)}"
        )
    grey = contrast_stretch(image)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    # Outer boundaries fall on the dark background, where a bright line stands out; drawn on
    # the (often saturated) nucleus itself it would vanish.
    edges = find_boundaries(np.asarray(labels), mode="outer")
    rgb[edges] = color
    return rgb


def frame_gallery_figure(rows, *, tile_size: float = 1.9) -> Figure:
    """Thumbnails in a grid: one row per well, one column per time point.

    Parameters
    ----------
    rows : list of (row title, list of (RGB image, tile title))
        The pictures, e.g. from :func:`outline_nuclei`.

    Examples
    --------
    >>> tile = np.zeros((4, 4, 3))
    >>> fig = frame_gallery_figure([("B2", [(tile, "0 h"), (tile, "72 h")])])
    >>> len(fig.axes)
    2
    """
    rows = list(rows)
    ncols = max((len(tiles) for _, tiles in rows), default=1)
    with style():
        fig = Figure(
            figsize=(tile_size * ncols + 0.4, (tile_size + 0.3) * max(1, len(rows))),
            dpi=150,
            layout="constrained",
        )
        axes = fig.subplots(max(1, len(rows)), ncols, squeeze=False)
        for r, (row_title, tiles) in enumerate(rows):
            for c in range(ncols):
                ax = axes[r, c]
                ax.set_xticks([])
                ax.set_yticks([])
                if c >= len(tiles):
                    ax.set_visible(False)
                    continue
                rgb, title = tiles[c]
                ax.imshow(rgb, interpolation="nearest")
                ax.set_title(title, fontsize=6.5)
                if c == 0:
                    ax.set_ylabel(row_title, fontsize=7)
    return fig
