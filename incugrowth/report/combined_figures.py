"""Figures of combined plates: plate means at the endpoint and a forest plot per cell line."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from incugrowth.plots import style

#: Markers told apart in print, one per plate (cycled beyond six plates).
PLATE_MARKERS = ("o", "s", "^", "D", "v", "P")


def plate_means_figure(
    plate_means: pd.DataFrame,
    *,
    stars: pd.DataFrame | None = None,
    control: str = "untreated",
    ylabel: str = "Change in cell count (%)",
    order=None,
    colors: dict | None = None,
) -> Figure:
    """Figure 4 at the endpoint from plate means: each plate's mean a dot, the mean of the
    plates with SD bars across plates, the combined Dunnett marks above the groups.

    This is :func:`incugrowth.report_figures.endpoint_figure` with the plate means in place
    of the wells.

    Examples
    --------
    >>> m = pd.DataFrame({"plate": ["d1", "d1", "d2", "d2"], "cell_line": "M420",
    ...                   "treatment": ["untreated", "IFN gamma"] * 2,
    ...                   "mean": [300.0, 60.0, 280.0, 70.0]})
    >>> fig = plate_means_figure(m)
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['untreated', 'IFN gamma']
    """
    from incugrowth.report_figures import endpoint_figure

    data = plate_means.rename(columns={"plate": "well"})
    return endpoint_figure(
        data,
        value="mean",
        stars=stars,
        control=control,
        ylabel=ylabel,
        order=order,
        colors=colors,
    )


def forest_figure(
    dunnett: pd.DataFrame,
    by_plate: pd.DataFrame | None,
    *,
    xlabel: str = "Difference in change in cell count (%)",
    ncols: int = 2,
    panel_width: float = 4.2,
) -> Figure:
    """One panel per cell line: each comparison's difference on each plate (its own
    Dunnett interval, grey) and the combined estimate (black diamond, simultaneous 95 % CI).

    Examples
    --------
    >>> d = pd.DataFrame({"cell_line": "M420", "treatment": ["IFN gamma"], "control": "untreated",
    ...                   "mean_diff": [-240.0], "ci_low": [-260.0], "ci_high": [-220.0]})
    >>> p = pd.DataFrame({"plate": ["d1", "d2"], "cell_line": "M420", "treatment": "IFN gamma",
    ...                   "control": "untreated", "mean_diff": [-230.0, -250.0],
    ...                   "ci_low": [-260.0, -280.0], "ci_high": [-200.0, -220.0]})
    >>> fig = forest_figure(d, p)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['IFN gamma vs. untreated']
    """
    lines = list(dict.fromkeys(dunnett["cell_line"]))
    plates = [] if by_plate is None else list(dict.fromkeys(by_plate["plate"]))
    keys = ["cell_line", "treatment", "control"]
    own = {} if by_plate is None else {k: g for k, g in by_plate.groupby(keys, sort=False)}
    most = max((int((dunnett["cell_line"] == x).sum()) for x in lines), default=1)
    with style():
        ncols = max(1, min(ncols, len(lines)))
        nrows = max(1, math.ceil(len(lines) / ncols))
        height = 0.5 + 0.42 * most * (1 + 0.25 * len(plates))
        fig = Figure(figsize=(panel_width * ncols + 1.4, height * nrows), dpi=150)
        axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
        for ax, line in zip(axes.flat, lines):
            rows = dunnett[dunnett["cell_line"] == line].reset_index(drop=True)
            step = 1.0 / (len(plates) + 2)
            for i, r in rows.iterrows():
                y = len(rows) - 1 - i
                sub = own.get((line, r["treatment"], r["control"]))
                for j, plate in enumerate(plates):
                    hit = None if sub is None else sub[sub["plate"] == plate]
                    if hit is None or hit.empty:
                        continue
                    h = hit.iloc[0]
                    yy = y + 1 - (j + 1) * step
                    ax.plot([h["ci_low"], h["ci_high"]], [yy, yy], color="#9a9ea6", lw=0.8)
                    ax.plot(
                        h["mean_diff"],
                        yy,
                        PLATE_MARKERS[j % len(PLATE_MARKERS)],
                        color="#6b7079",
                        ms=3.5,
                        label=str(plate),
                    )
                yy = y + 1 - (len(plates) + 1) * step
                ax.plot([r["ci_low"], r["ci_high"]], [yy, yy], color="#111111", lw=1.6)
                ax.plot(r["mean_diff"], yy, "D", color="#111111", ms=5.5, label="combined")
            ax.axvline(0, color="#888888", lw=0.7, ls="--", zorder=0)
            ax.set_yticks(
                np.arange(len(rows))[::-1] + 1 - (len(plates) + 1) * step,
                [f"{t} vs. {c}" for t, c in zip(rows["treatment"], rows["control"])],
            )
            ax.set_ylim(0, len(rows))
            ax.set_title(str(line))
            ax.tick_params(axis="y", labelsize=7)
        for ax in axes[-1, :]:
            ax.set_xlabel(xlabel)
        for ax in list(axes.flat)[len(lines) :]:
            ax.set_visible(False)
        handles, labels = {}, []
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in handles:
                    handles[lab] = h
                    labels.append(lab)
        fig.legend(
            [handles[lab] for lab in labels],
            labels,
            loc="outside right center",
            frameon=False,
            title="95 % CI: each plate's own\nDunnett; combined: block\nmodel (simultaneous)",
            title_fontsize=7,
            fontsize=7,
            alignment="left",
        )
        fig.set_layout_engine("constrained")
    return fig
