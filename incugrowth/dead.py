"""Live and dead counts: dead fraction per well and time, and the cytostatic/cytotoxic verdict.

A dead-cell dye multiplexed with the nuclear label (Cytotox Green or Red, Annexin V) gives
each scan a live count (the nuclear label) and a dead count. This module turns the two into
the ``dead`` table (well x time: ``live``, ``dead``, ``pct_dead`` = 100 x dead / (live +
dead)), its condition curves, the dead fraction at the growth endpoint, and the ``effects``
table: one verdict per cell line and treatment (:data:`VERDICTS`) from the Dunnett's
comparisons of growth and of the dead fraction, with the GR value beside it.

The verdict rule (:func:`verdict`), at the endpoint, each treatment against its own control:

- ``cytotoxic``: the dead fraction is significantly above the control's (Dunnett, adjusted
  P < 0.05, positive difference);
- ``cytostatic``: growth (percent change) is significantly below the control's and the dead
  fraction is not significantly above it;
- ``no effect``: neither growth nor the dead fraction differ significantly (a dead fraction
  significantly *below* the control's alone is no effect on growth or death either);
- ``unclear``: the data cannot say: a comparison is missing (no dead-cell data, no control),
  fewer than :data:`MIN_WELLS` wells with a dead fraction in the treatment or its control,
  growth significantly *above* the control (with or without more death: neither inhibition
  nor a clean kill), or growth inhibited with a GR value below :data:`NET_LOSS_GR` (fewer
  live cells than at the start: net killing) while the dead fraction did not rise (cells lost
  without a dead-cell signal, e.g. detached or already broken up).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthError, input_error
from incugrowth.kinetics import combine_fields, condition_curves

__all__ = [
    "ALPHA",
    "DEAD_COLUMNS",
    "EFFECT_COLUMNS",
    "MIN_WELLS",
    "NET_LOSS_GR",
    "VERDICTS",
    "VERDICT_RULE",
    "check_dead_input",
    "check_dead_matches",
    "count_dead_frames",
    "dead_curves",
    "dead_endpoint",
    "dead_statistics",
    "dead_table",
    "effects_table",
    "split_dead_export",
    "verdict",
]

#: The verdict words of ``effects.csv``.
VERDICTS = ("cytotoxic", "cytostatic", "no effect", "unclear")
#: Significance level of the comparisons behind a verdict (adjusted P values).
ALPHA = 0.05
#: Fewest wells with a dead fraction, in a treatment and in its control, for a verdict.
MIN_WELLS = 2
#: GR below this is net killing (the live count fell over the course); -0.1 rather than 0 so
#: that noise around complete stasis (GR 0) does not change a verdict.
NET_LOSS_GR = -0.1
#: The constants of the verdict rule, as run.json records them.
VERDICT_RULE = {"alpha": ALPHA, "min_wells": MIN_WELLS, "net_loss_gr": NET_LOSS_GR}

#: Columns of ``dead.csv`` before the plate-map columns.
DEAD_COLUMNS = ["well", "elapsed_h", "live", "dead", "pct_dead", "qc_flag"]
#: Columns of ``effects.csv``.
EFFECT_COLUMNS = [
    "cell_line",
    "treatment",
    "dose",
    "control",
    "verdict",
    "gr",
    "reason",
    "growth_diff",
    "growth_p_adj",
    "growth_stars",
    "pct_dead",
    "pct_dead_control",
    "dead_diff",
    "dead_p_adj",
    "dead_stars",
    "n_treatment",
    "n_control",
]

_TIME_DECIMALS = 3  # as kinetics: times this close are one time point


# --------------------------------------------------------------------------------------
# Inputs: the dead count beside the nuclear count
# --------------------------------------------------------------------------------------


def _metrics_text(metrics) -> str:
    return ", ".join(repr(m) for m in metrics) if len(metrics) else "none"


def _source(export: pd.DataFrame) -> str | None:
    if "source" not in export.columns:
        return None
    names = [str(s) for s in export["source"].dropna().unique()]
    return ", ".join(names) if names else None


def split_dead_export(
    export: pd.DataFrame, dead_metric: str, *, metric: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The nuclear and the dead-cell counts of an export table (one file or several).

    Parameters
    ----------
    export : pandas.DataFrame
        An export table (:func:`incugrowth.exports.read_exports`) holding both metrics.
    dead_metric : str
        The dead-cell count metric, e.g. ``"Green Object Count (Per Image)"``.
    metric : str, optional
        The nuclear count metric; by default the one other count metric.

    Returns
    -------
    (counts, dead_counts) : two counts tables
        As :func:`incugrowth.exports.export_to_counts`; the dead counts have no confluence.

    Raises
    ------
    IncugrowthError
        The dead metric is not in the export (the message lists the metrics there), it is
        the nuclear metric too, or its wells or times do not match the nuclear count's (the
        message names both files).

    Examples
    --------
    >>> export = pd.DataFrame({"well": "B2", "field": 1.0, "group": np.nan,
    ...     "elapsed_h": [0.0, 24.0] * 2, "metric": ["Red Count"] * 2 + ["Green Count"] * 2,
    ...     "unit": "", "value": [100.0, 200.0, 5.0, 40.0], "std_dev": np.nan,
    ...     "std_err": np.nan, "source": "export.txt"})
    >>> live, dead = split_dead_export(export, "Green Count")
    >>> live["count"].tolist(), dead["count"].tolist()
    ([100.0, 200.0], [5.0, 40.0])
    """
    from incugrowth.exports import export_to_counts

    metrics = list(export["metric"].dropna().unique())
    if dead_metric not in metrics:
        raise input_error(
            _source(export),
            f"dead-cell metric {dead_metric!r} is not in the export; metrics available: "
            f"{_metrics_text(metrics)} (give one with --dead-metric)",
        )
    if metric == dead_metric:
        raise input_error(
            _source(export),
            f"{dead_metric!r} is given as both the nuclear (--metric) and the dead-cell "
            "metric (--dead-metric): give the dead-cell count's own metric",
        )
    is_dead = export["metric"] == dead_metric
    nuclear_rows, dead_rows = export[~is_dead], export[is_dead]
    counts = export_to_counts(nuclear_rows, metric=metric)
    dead = export_to_counts(dead_rows, metric=dead_metric, confluence=False)
    nuclear_file = _source(nuclear_rows[nuclear_rows["metric"] == counts["metric"].iloc[0]])
    check_dead_matches(counts, dead, nuclear_file, _source(dead_rows))
    return counts, dead


def check_dead_matches(counts: pd.DataFrame, dead: pd.DataFrame, where, dead_where) -> None:
    """The dead counts must cover the wells and times of the nuclear counts, and no others.

    Raises
    ------
    IncugrowthError
        One line naming both inputs (`dead_where` first) and the first wells or times that
        differ.

    Examples
    --------
    >>> live = pd.DataFrame({"well": ["B2", "B3"], "elapsed_h": [0.0, 0.0]})
    >>> check_dead_matches(live, live, "red.txt", "green.txt")  # same wells and times
    >>> try:
    ...     check_dead_matches(live, live.iloc[:1], "red.txt", "green.txt")
    ... except IncugrowthError as exc:
    ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
    green.txt: the dead-cell count does not match the nuclear count in red.txt:
    wells only in the nuclear count: B3
    """
    from incugrowth.platemap import well_sort_key

    problems = []
    live_wells, dead_wells = set(counts["well"]), set(dead["well"])
    for name, only in (
        ("nuclear", live_wells - dead_wells),
        ("dead-cell", dead_wells - live_wells),
    ):
        if only:
            listed = sorted(only, key=well_sort_key)
            more = f" and {len(listed) - 5} more" if len(listed) > 5 else ""
            problems.append(f"wells only in the {name} count: {', '.join(listed[:5])}{more}")
    live_t = set(np.round(counts["elapsed_h"].astype(float), _TIME_DECIMALS))
    dead_t = set(np.round(dead["elapsed_h"].astype(float), _TIME_DECIMALS))
    for name, only in (("nuclear", live_t - dead_t), ("dead-cell", dead_t - live_t)):
        if only:
            listed = sorted(only)
            more = f" and {len(listed) - 5} more" if len(listed) > 5 else ""
            hours = ", ".join(f"{t:g}" for t in listed[:5])
            problems.append(f"times only in the {name} count: {hours} h{more}")
    if problems:
        where = "the nuclear count" if where is None else f"the nuclear count in {where}"
        raise input_error(
            dead_where, f"the dead-cell count does not match {where}: {'; '.join(problems)}"
        )


def count_dead_frames(
    folder: str | os.PathLike,
    dead_channel: str,
    *,
    channel: str | None = None,
    diameter: float | None = None,
    segmenter=None,
    jobs: int | None = None,
    scheduler=None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The nuclear and dead-cell counts of an image export, counted the same way.

    The nuclear channel is counted by :func:`incugrowth.batch.count_folder`; the dead-cell
    channel's frames by the same counter, options and journal
    (:func:`incugrowth.batch.count_frames`), each with its well's nucleus size from the
    nuclear channel when the batch gives one per well (``diameter_px``) and no ``diameter``
    is given: dead cells are the same cells, and the few objects of a dead-cell frame (5 %
    of the cells in a control) are too few for a size of their own.
    """
    from incugrowth.batch import count_folder, count_frames, records_to_counts
    from incugrowth.frames import find_frames, select_channel

    if channel is not None and str(channel).lower() == str(dead_channel).lower():
        raise input_error(
            folder,
            f"channel {dead_channel!r} is given as both the nuclear (--channel) and the "
            "dead-cell channel (--dead-channel): give the dead-cell dye's own channel",
        )
    options = dict(jobs=jobs, scheduler=scheduler, cache_dir=cache_dir, progress=progress)
    counts = count_folder(folder, channel=channel, diameter=diameter, segmenter=segmenter,
                          **options)  # fmt: skip
    if counts.attrs.get("measure") == "confluence":
        raise input_error(
            folder,
            "a dead fraction needs a nuclear count, and the frames counted are phase "
            "contrast: give the nuclear channel with --channel",
        )
    frames = select_channel(find_frames(folder), dead_channel)
    sizes = _well_sizes(counts)
    if diameter is None and segmenter is None and sizes is not None:
        frames = frames.assign(diameter_px=frames["well"].map(sizes))
    records = count_frames(frames, diameter=diameter, segmenter=segmenter, **options)
    dead = records_to_counts(frames, records)
    dead.attrs["measured"] = records.attrs.get("measured", len(frames))
    dead.attrs["reused"] = records.attrs.get("reused", 0)
    check_dead_matches(counts, dead, folder, f"{folder} ({dead_channel} channel)")
    return counts, dead


def _well_sizes(counts: pd.DataFrame) -> pd.Series | None:
    """The nucleus size (px) each well's nuclear frames were counted with, when the batch
    counts with one size per well (its ``diameter_px`` column); else None."""
    if "diameter_px" not in counts.columns:
        return None
    sizes = pd.to_numeric(counts["diameter_px"], errors="coerce")
    sizes = sizes.groupby(counts["well"]).median().dropna()
    return sizes if len(sizes) else None


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------


def dead_table(growth: pd.DataFrame, dead_counts: pd.DataFrame, *, how: str = "mean"):
    """The ``dead`` table: live and dead count and dead fraction per well and time.

    Parameters
    ----------
    growth : pandas.DataFrame
        The growth table (its ``count`` is the live count, fields combined); its wells and
        plate-map columns are kept.
    dead_counts : pandas.DataFrame
        The counts table of the dead-cell channel or metric.
    how : {"mean", "sum"}
        How fields are combined, as for the growth table.

    Returns
    -------
    pandas.DataFrame
        ``well``, ``elapsed_h``, ``live``, ``dead``, ``pct_dead`` (100 x dead / (live +
        dead); NaN where either count is missing or both are 0), ``qc_flag`` (the flags of
        both channels) and the plate-map columns of ``growth``.

    Examples
    --------
    >>> growth = pd.DataFrame({"well": ["B2", "B2"], "elapsed_h": [0.0, 72.0],
    ...                        "count": [95.0, 40.0], "qc_flag": "", "cell_line": "A",
    ...                        "treatment": "drug"})
    >>> dead = pd.DataFrame({"well": ["B2", "B2"], "field": 1.0, "elapsed_h": [0.0, 72.0],
    ...                      "count": [5.0, 160.0]})
    >>> dead_table(growth, dead)[["well", "elapsed_h", "live", "dead", "pct_dead"]]
      well  elapsed_h  live   dead  pct_dead
    0   B2        0.0  95.0    5.0       5.0
    1   B2       72.0  40.0  160.0      80.0
    """
    wells = combine_fields(dead_counts, how=how)
    wells = wells[["well", "elapsed_h", "count", "qc_flag"]].rename(
        columns={"count": "dead", "qc_flag": "_dead_flag"}
    )
    live = growth.rename(columns={"count": "live"})
    live = live.assign(elapsed_h=live["elapsed_h"].astype(float).round(_TIME_DECIMALS))
    out = live.merge(wells, on=["well", "elapsed_h"], how="left", validate="one_to_one")
    total = out["live"] + out["dead"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["pct_dead"] = (100.0 * out["dead"] / total).where(total > 0)
    flags = out.get("qc_flag", pd.Series("", index=out.index)).fillna("").astype(str)
    dead_flags = out["_dead_flag"].fillna("").astype(str)
    out["qc_flag"] = [
        ";".join(sorted({f for f in a.split(";") if f} | {f"dead_{f}" for f in b.split(";") if f}))
        for a, b in zip(flags, dead_flags)
    ]
    skip = {
        "live",
        "dead",
        "pct_dead",
        "qc_flag",
        "_dead_flag",
        "n_fields",
        "baseline_h",
        "baseline_count",
        "pct_change",
        "pct_of_control",
        "confluence",
    }
    annotation = [c for c in out.columns if c not in skip and c not in ("well", "elapsed_h")]
    return out[[*DEAD_COLUMNS, *annotation]].reset_index(drop=True)


def dead_curves(dead: pd.DataFrame) -> pd.DataFrame:
    """Mean, SD, SEM and number of wells of the dead fraction per condition and time.

    The ``dead_curves`` table: the columns of ``curves.csv``, on ``pct_dead``.

    Examples
    --------
    >>> d = pd.DataFrame({"cell_line": "A", "treatment": "drug", "dose": np.nan,
    ...                   "well": ["B2", "B3"], "elapsed_h": 72.0, "pct_dead": [40.0, 60.0]})
    >>> dead_curves(d)[["treatment", "mean", "sd", "n_wells"]].round(2)
      treatment  mean     sd  n_wells
    0      drug  50.0  14.14        2
    """
    return condition_curves(dead, value="pct_dead")


def dead_endpoint(dead: pd.DataFrame, end: pd.DataFrame) -> pd.DataFrame:
    """Rows of the dead table at the growth endpoint: each well at the scan the endpoint
    table used for it, so that both analyses look at one time point; ``endpoint_h`` as in
    the endpoint table. Wells without a dead fraction there are left out.

    Examples
    --------
    >>> dead = pd.DataFrame({"well": ["B2", "B2"], "elapsed_h": [0.0, 71.9],
    ...                      "pct_dead": [5.0, 50.0]})
    >>> end = pd.DataFrame({"well": ["B2"], "elapsed_h": [71.9], "endpoint_h": [71.9]})
    >>> dead_endpoint(dead, end)[["well", "elapsed_h", "endpoint_h", "pct_dead"]]
      well  elapsed_h  endpoint_h  pct_dead
    0   B2       71.9        71.9      50.0
    """
    at = end[["well", "elapsed_h", "endpoint_h"]].assign(
        elapsed_h=end["elapsed_h"].astype(float).round(_TIME_DECIMALS)
    )
    rows = dead.assign(elapsed_h=dead["elapsed_h"].astype(float).round(_TIME_DECIMALS))
    out = rows.merge(at, on=["well", "elapsed_h"], how="inner")
    cols = list(out.columns)
    cols.remove("endpoint_h")
    cols.insert(cols.index("elapsed_h") + 1, "endpoint_h")
    return out.loc[out["pct_dead"].notna(), cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------------------


def _significant(p, diff, sign: int) -> bool:
    return bool(pd.notna(p) and p < ALPHA and pd.notna(diff) and np.sign(diff) == sign)


def verdict(
    *,
    growth_diff: float = np.nan,
    growth_p: float = np.nan,
    dead_diff: float = np.nan,
    dead_p: float = np.nan,
    gr: float = np.nan,
    n_treatment: float = np.nan,
    n_control: float = np.nan,
) -> tuple[str, str]:
    """The verdict on one treatment in one cell line, and the reason in words.

    The rule is in the module's docstring. ``*_diff`` are treated minus control (percent
    change, and percentage points of dead fraction), ``*_p`` Dunnett's adjusted P values,
    ``gr`` the GR value at the endpoint and ``n_*`` the wells with a dead fraction. A
    comparison that is missing is NaN.

    Examples
    --------
    >>> verdict(growth_diff=-300, growth_p=1e-4, dead_diff=70, dead_p=1e-5, gr=-0.6,
    ...         n_treatment=3, n_control=3)[0]
    'cytotoxic'
    >>> verdict(growth_diff=-280, growth_p=1e-4, dead_diff=0.4, dead_p=0.9, gr=0.2,
    ...         n_treatment=3, n_control=3)[0]
    'cytostatic'
    >>> verdict(growth_diff=-5, growth_p=0.8, dead_diff=0.1, dead_p=0.99, gr=0.97,
    ...         n_treatment=3, n_control=3)[0]
    'no effect'
    >>> verdict(growth_diff=-280, growth_p=1e-4, gr=0.2, n_treatment=3, n_control=3)
    ('unclear', 'no comparison of the dead fraction with the control')
    """
    if pd.isna(growth_p):
        return "unclear", "no comparison of growth with the control"
    if pd.isna(dead_p):
        return "unclear", "no comparison of the dead fraction with the control"
    few = [n for n in (n_treatment, n_control) if pd.isna(n) or n < MIN_WELLS]
    if few:
        return "unclear", (
            f"fewer than {MIN_WELLS} wells with a dead fraction in the treatment or its control"
        )
    dead_up = _significant(dead_p, dead_diff, 1)
    growth_down = _significant(growth_p, growth_diff, -1)
    growth_up = _significant(growth_p, growth_diff, 1)
    if growth_up:
        more = " and a higher dead fraction" if dead_up else ""
        return "unclear", f"growth significantly above the control{more}"
    if dead_up:
        return "cytotoxic", "dead fraction significantly above the control"
    if growth_down:
        if pd.notna(gr) and gr < NET_LOSS_GR:
            return "unclear", (
                f"GR {gr:.2f} (fewer live cells than at the start) without a rise in the dead "
                "fraction: cells lost without a dead-cell signal"
            )
        return "cytostatic", "growth significantly below the control, dead fraction not above"
    return "no effect", "neither growth nor the dead fraction differ significantly"


def _comparisons(dunnett: pd.DataFrame | None, prefix: str) -> pd.DataFrame:
    """The columns of one Dunnett table that a verdict needs, renamed for ``effects``."""
    names = {"mean_diff": f"{prefix}_diff", "p_adj": f"{prefix}_p_adj", "stars": f"{prefix}_stars"}
    if prefix == "dead":
        names |= {
            "mean_treatment": "pct_dead",
            "mean_control": "pct_dead_control",
            "n_treatment": "n_treatment",
            "n_control": "n_control",
        }
    cols = ["cell_line", "treatment", "control", *names]
    if dunnett is None or "cell_line" not in dunnett.columns:
        dunnett = pd.DataFrame(columns=cols)
    out = dunnett[cols].rename(columns=names)
    numeric = [c for c in out.columns if c not in ("cell_line", "treatment", "control")]
    numeric = [c for c in numeric if not c.endswith("_stars")]
    return out.astype({c: float for c in numeric})


def effects_table(
    dunnett: pd.DataFrame | None,
    dunnett_dead: pd.DataFrame | None,
    *,
    gr: pd.DataFrame | None = None,
    doses: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``effects`` table: a verdict per cell line and treatment, GR beside it.

    Parameters
    ----------
    dunnett : pandas.DataFrame
        Dunnett's comparisons of growth at the endpoint (``dunnett.csv``).
    dunnett_dead : pandas.DataFrame
        The same comparisons on the dead fraction (``dunnett_dead.csv``).
    gr : pandas.DataFrame, optional
        GR values at the endpoint: ``cell_line``, ``treatment``, ``gr`` (treatment names as
        in the Dunnett tables).
    doses : pandas.DataFrame, optional
        ``treatment`` (as in the Dunnett tables) and its ``dose``.

    Returns
    -------
    pandas.DataFrame
        :data:`EFFECT_COLUMNS`, one row per comparison in either table, in the order of the
        growth comparisons. ``pct_dead`` and ``pct_dead_control`` are mean dead fractions
        (percent) at the endpoint, ``dead_diff`` their difference (percentage points).

    Examples
    --------
    >>> growth = pd.DataFrame({"cell_line": "A", "treatment": ["slow", "kill"],
    ...     "control": "untreated", "mean_diff": [-250.0, -300.0], "p_adj": [1e-4, 1e-5],
    ...     "stars": "***"})
    >>> dead = pd.DataFrame({"cell_line": "A", "treatment": ["slow", "kill"],
    ...     "control": "untreated", "mean_diff": [0.5, 70.0], "p_adj": [0.9, 1e-6],
    ...     "stars": ["NS", "***"], "mean_treatment": [5.5, 75.0], "mean_control": 5.0,
    ...     "n_treatment": 3, "n_control": 3})
    >>> effects_table(growth, dead)[["treatment", "verdict", "pct_dead"]]
      treatment     verdict  pct_dead
    0      slow  cytostatic       5.5
    1      kill   cytotoxic      75.0
    """
    keys = ["cell_line", "treatment"]
    grow = _comparisons(dunnett, "growth")
    dead = _comparisons(dunnett_dead, "dead")
    out = grow.merge(dead, on=keys, how="outer", suffixes=("", "_dead"), sort=False)
    out["control"] = out["control"].fillna(out.pop("control_dead"))
    if len(grow):  # the growth comparisons' order, then any only in the dead table
        order = {k: i for i, k in enumerate(zip(grow["cell_line"], grow["treatment"]))}
        rank = [order.get(k, len(order)) for k in zip(out["cell_line"], out["treatment"])]
        out = out.assign(_rank=rank).sort_values("_rank", kind="stable").drop(columns="_rank")
    if gr is not None and len(gr):
        values = gr.groupby(keys, sort=False)["gr"].mean().rename("gr")
        out = out.join(values, on=keys)
    else:
        out["gr"] = np.nan
    if doses is not None and len(doses):
        out = out.join(doses.groupby("treatment")["dose"].first(), on="treatment")
    else:
        out["dose"] = np.nan
    results = [
        verdict(
            growth_diff=r.growth_diff,
            growth_p=r.growth_p_adj,
            dead_diff=r.dead_diff,
            dead_p=r.dead_p_adj,
            gr=r.gr,
            n_treatment=r.n_treatment,
            n_control=r.n_control,
        )
        for r in out.itertuples()
    ]
    out["verdict"] = [v for v, _ in results]
    out["reason"] = [why for _, why in results]
    return out[EFFECT_COLUMNS].reset_index(drop=True)


def check_dead_input(dead_metric, dead_channel, exports, frames) -> None:
    """A dead-cell input fits the kind of input: ``dead_metric`` an export, ``dead_channel``
    frames."""
    if dead_metric is not None and exports is None:
        raise IncugrowthError(
            "--dead-metric names a metric of an export; with --frames give the dead-cell "
            "channel with --dead-channel (e.g. green)"
        )
    if dead_channel is not None and frames is None:
        raise IncugrowthError(
            "--dead-channel names a channel of an image export; with --export give the "
            'dead-cell metric with --dead-metric (e.g. "Green Object Count (Per Image)")'
        )


def dead_statistics(
    at_end: pd.DataFrame, *, control: str = "untreated", controls=None
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Two-way ANOVA and Dunnett's comparisons of the dead fraction at the endpoint.

    The analysis of growth (:func:`incugrowth.stats.endpoint_statistics`: the same model,
    families and control rules) on ``pct_dead`` of :func:`dead_endpoint`'s rows. Returns
    ``({"anova_dead": ..., "dunnett_dead": ...}, messages)``; when nothing can be computed,
    no tables and the reason among the messages.

    Examples
    --------
    >>> end = pd.DataFrame({"cell_line": "A", "treatment": ["untreated"] * 3 + ["kill"] * 3,
    ...                     "pct_dead": [4.0, 5.0, 6.0, 70.0, 75.0, 80.0]})
    >>> tables, _ = dead_statistics(end)
    >>> tables["dunnett_dead"][["treatment", "mean_diff", "stars"]]
      treatment  mean_diff stars
    0      kill       70.0   ***
    """
    from incugrowth.stats import endpoint_statistics

    try:
        res = endpoint_statistics(at_end, dv="pct_dead", control=control, controls=controls)
    except IncugrowthError as exc:
        return {}, [f"dead-cell statistics not computed: {exc}"]
    messages = [f"dead fraction: {m}" for m in res.get("messages", [])]
    return {"anova_dead": res["anova"], "dunnett_dead": res["dunnett"]}, messages
