"""Growth-rate metrics that do not confound drug effect with division rate: DIP rates and GR values.

Percent change from time zero mixes how strongly a drug acts with how fast the cells divide:
a slow line looks "resistant" because its untreated wells grow little too. Two corrections are
computed here from the growth table:

* the drug-induced proliferation (DIP) rate of each well, the slope of log2(count) against
  hours over the late, steady part of the time course (Harris et al., Nat Methods 2016;13:497),
  with the window chosen exactly as the Thunor package does;
* the growth-rate inhibition (GR) value of each condition and time (Hafner et al., Nat Methods
  2016;13:521): 1 for no effect, 0 for a cytostatic drug, below 0 when cells die, -1 at
  complete kill.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthWarning
from incugrowth.kinetics import _short_list
from incugrowth.platemap import well_sort_key

__all__ = ["dip_rates", "gr_values", "tyson1"]

# Columns of the growth table that change with time (or are per-well working values) and are
# therefore not carried into the one-row-per-well DIP table.
_TIME_VARYING = {
    "elapsed_h",
    "count",
    "pct_change",
    "n_fields",
    "qc_flag",
    "baseline_h",
    "baseline_count",
    "confluence",
    "field",
    "endpoint_h",
    "pct_of_control",
}


def tyson1(adj_r_squared, rmse, n):
    """Thunor's score of a DIP fit window (higher is better).

    ``adj_r_squared * (1 - rmse) ** 2 * (n - 3) ** 0.25``, with ``rmse`` the root mean squared
    residual of log2(count) (residual sum of squares divided by ``n``, not ``n - 2``) and ``n``
    the number of points in the window. A window of three points scores 0.

    Examples
    --------
    >>> round(tyson1(0.99, 0.05, 19), 6)
    1.78695
    >>> tyson1(0.99, 0.05, 3)
    0.0
    """
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        score = adj_r_squared * (1.0 - rmse) ** 2 * np.maximum(n - 3.0, 0.0) ** 0.25
    return score if score.ndim else float(score)


def _ols(t: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Slope, its standard error and R^2 of y on t (residuals summed directly)."""
    n = t.size
    dt = t - t.mean()
    dy = y - y.mean()
    sxx = float(dt @ dt)
    if n < 2 or sxx <= 0:
        return np.nan, np.nan, np.nan
    slope = float(dt @ dy) / sxx
    resid = dy - slope * dt
    rss = float(resid @ resid)
    syy = float(dy @ dy)
    se = np.sqrt(rss / (n - 2) / sxx) if n > 2 else np.nan
    r2 = 1.0 - rss / syy if syy > 0 else np.nan
    return slope, float(se), float(r2)


def _best_window(t: np.ndarray, y: np.ndarray, min_points: int) -> int:
    """Index of the first point of the best suffix window by Thunor's tyson1 rule.

    Every window runs from a start point to the last point; starts leave at least
    ``min_points`` points. Ties go to the earliest start (the longest window), and a window of
    three points scores 0, so it wins only when every longer window scores below 0 -- both as
    in ``thunor.dip._expt_dip_inner``.
    """
    n = t.size
    # Shifting both axes leaves slopes and residuals unchanged and keeps the suffix sums of
    # squares free of cancellation.
    tc = t - t.mean()
    yc = y - y.mean()

    def suffix(v):
        return np.cumsum(v[::-1])[::-1]

    starts = np.arange(n - min_points + 1)
    m = (n - starts).astype(float)
    sx, sy = suffix(tc)[starts], suffix(yc)[starts]
    sxx, syy, sxy = suffix(tc * tc)[starts], suffix(yc * yc)[starts], suffix(tc * yc)[starts]
    ssxx = sxx - sx * sx / m
    ssyy = syy - sy * sy / m
    ssxy = sxy - sx * sy / m
    valid = ssxx > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(valid, ssxy / ssxx, np.nan)
        r2 = np.where(valid & (ssyy > 0), ssxy * ssxy / (ssxx * ssyy), 0.0)
        adj_r2 = 1.0 - (1.0 - r2) * (m - 1) / (m - 2)
        rmse = np.sqrt(np.maximum(ssyy - slope * ssxy, 0.0) / m)
        score = np.where(valid & (m > 3), tyson1(adj_r2, rmse, m), 0.0)
    return int(starts[np.argmax(score)])


def _well_dip(t: np.ndarray, y: np.ndarray, *, whole: bool, min_points: int) -> dict:
    order = np.argsort(t, kind="stable")
    t, y = t[order], y[order]
    n = t.size
    if n < 2:
        nan = np.nan
        return {"dip_rate": nan, "dip_se": nan, "first_h": nan, "n_points": n, "r_squared": nan}
    start = 0 if whole or n < min_points else _best_window(t, y, min_points)
    slope, se, r2 = _ols(t[start:], y[start:])
    return {
        "dip_rate": slope,
        "dip_se": se,
        "first_h": float(t[start]),
        "n_points": n - start,
        "r_squared": r2,
    }


def _as_set(control: str | Iterable[str]) -> set[str]:
    return {control} if isinstance(control, str) else set(control)


def _require(df: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"`{name}` lacks the column(s) {missing}")


def dip_rates(
    growth: pd.DataFrame,
    *,
    control: str | Iterable[str] = "untreated",
    min_points: int = 3,
) -> pd.DataFrame:
    """Drug-induced proliferation (DIP) rate of every well, in doublings per hour.

    The DIP rate is the least-squares slope of log2(count) against ``elapsed_h``. Control wells
    (``treatment`` in ``control``) are fitted over their whole time course. Treated wells are
    fitted over the best late window, chosen as in Thunor (``thunor.dip``, version 1.0.3,
    ``_expt_dip_inner``): among the windows that start at successive time points -- the first
    included -- and run to the last point, with at least ``min_points`` points, the one that
    maximises :func:`tyson1`, ``adj. R^2 x (1 - RMSE)^2 x (n - 3)^0.25`` (RMSE of log2 counts
    with divisor ``n``; ties to the longest window; a three-point window scores 0). This skips
    the early hours in which a drug has not yet reached its steady effect. A well with fewer
    than ``min_points`` usable points is fitted over all of them (two at least).

    Counts that are missing or not positive (log undefined) are left out with a warning.

    Parameters
    ----------
    growth : DataFrame
        The growth table: ``well``, ``elapsed_h``, ``count``, ``treatment`` and the other
        plate-map columns.
    control : str or iterable of str
        Treatment name(s) of the control wells.
    min_points : int
        Fewest time points in a treated well's window; at least 3.

    Returns
    -------
    DataFrame
        The ``dip.csv`` table, one row per well: ``well``, ``dip_rate`` (doublings per hour),
        ``dip_se`` (standard error of the slope), ``first_h`` (first time point used),
        ``n_points``, ``r_squared`` (of the window; NaN for a perfectly constant count), then
        the plate-map columns of the well. Multiply by ``ln 2`` for a rate per hour in natural
        log units; ``1 / dip_rate`` is the doubling time in hours.

    Examples
    --------
    >>> t = np.arange(0.0, 9.0)
    >>> g = pd.DataFrame({"well": "B2", "elapsed_h": t, "count": 100 * 2.0**t,
    ...                   "treatment": "untreated"})
    >>> dip_rates(g)[["well", "dip_rate", "first_h", "n_points"]]
      well  dip_rate  first_h  n_points
    0   B2       1.0      0.0         9
    """
    if min_points < 3:
        raise ValueError(f"`min_points` must be at least 3, got {min_points}")
    _require(growth, ("well", "elapsed_h", "count", "treatment"), "growth")
    controls = _as_set(control)
    count = pd.to_numeric(growth["count"], errors="coerce").astype(float)
    usable = count > 0
    dropped = sorted(growth.loc[~usable, "well"].astype(str).unique(), key=well_sort_key)
    if dropped:
        warnings.warn(
            f"missing or non-positive counts left out of the DIP fit (log undefined) in "
            f"well(s) {_short_list(dropped)}",
            IncugrowthWarning,
            stacklevel=2,
        )
    t_all = growth["elapsed_h"].to_numpy(dtype=float)
    y_all = np.log2(count.where(usable)).to_numpy()
    rows = []
    for well, idx in growth.groupby("well", sort=False).indices.items():
        keep = idx[usable.to_numpy()[idx]]
        is_control = growth["treatment"].iloc[idx[0]] in controls
        fit = _well_dip(t_all[keep], y_all[keep], whole=is_control, min_points=min_points)
        rows.append({"well": well, **fit})
    out = pd.DataFrame(
        rows, columns=["well", "dip_rate", "dip_se", "first_h", "n_points", "r_squared"]
    )
    out["n_points"] = out["n_points"].astype(int)
    annot = [c for c in growth.columns if c not in _TIME_VARYING and c != "well"]
    if annot:
        per_well = growth[["well", *annot]].drop_duplicates("well")
        out = out.merge(per_well, on="well", how="left")
    order = out["well"].map(well_sort_key)
    return out.assign(_k=order).sort_values("_k").drop(columns="_k").reset_index(drop=True)


def _time_zero(growth: pd.DataFrame) -> pd.DataFrame:
    """Per-well time zero (hour, count): the growth table's baseline, else the first point."""
    if {"baseline_h", "baseline_count"} <= set(growth.columns):
        base = growth.groupby("well", sort=False)[["baseline_h", "baseline_count"]].first()
        return base.rename(columns={"baseline_h": "t0_h", "baseline_count": "count_t0"})
    valid = growth[growth["count"].notna()].sort_values("elapsed_h", kind="stable")
    first = valid.groupby("well", sort=False).head(1).set_index("well")
    return pd.DataFrame({"t0_h": first["elapsed_h"], "count_t0": first["count"]})


def _treatment_controls(growth: pd.DataFrame, controls: Mapping[str, str] | None) -> dict:
    """Treatment -> its own control treatment, from a ``control`` column and ``controls``."""
    out = {}
    if "control" in growth.columns:
        named = growth[["treatment", "control"]].dropna().drop_duplicates()
        named = named[named["control"].astype(str).str.strip() != ""]
        out = dict(zip(named["treatment"], named["control"].astype(str).str.strip()))
    out.update(controls or {})
    return out


def _warn_missing_controls(out: pd.DataFrame, ctrl: pd.DataFrame, by: list[str]) -> None:
    needed = {tuple(v) for v in out[[*by, "control"]].drop_duplicates().itertuples(index=False)}
    found = {tuple(v) for v in ctrl[[*by, "treatment"]].drop_duplicates().itertuples(index=False)}
    lacking = sorted(needed - found, key=str)
    if lacking:
        where = _short_list(f"'{v[-1]}' for {'/'.join(map(str, v[:-1]))}" for v in lacking)
        warnings.warn(
            f"no control wells ({where}): GR values left empty there",
            IncugrowthWarning,
            stacklevel=3,
        )


def gr_values(
    growth: pd.DataFrame,
    *,
    control: str = "untreated",
    controls: Mapping[str, str] | None = None,
    by: Sequence[str] = ("cell_line",),
    time0: str = "condition",
    per_well: bool = False,
    times: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Growth-rate inhibition (GR) values per condition and time point.

    ``GR(c, t) = 2 ** (log2(x(c, t) / x0) / log2(x_ctrl(t) / x0_ctrl)) - 1`` (Hafner et al.,
    Nat Methods 2016, Online Methods), with ``x(c, t)`` the mean count of the condition's wells
    at time ``t``, ``x_ctrl(t)`` the mean count of the ``control`` wells of the same ``by``
    level (cell line) at that time, and ``x0``, ``x0_ctrl`` counts at time zero. GR is 1 when
    the treated cells grow like the control, 0 when their number stays at ``x0``
    (cytostatic), -0.5 when it halves every control doubling, and tends to -1 as the count
    goes to 0 (a count of exactly 0 gives -1). Values are given for every time after time
    zero.

    Time zero of a well is the growth table's baseline (``baseline_h``, ``baseline_count``;
    the first imaged time point unless chosen otherwise), or its first time point when the
    table has no baseline columns. With ``time0="condition"`` (default), ``x0`` is the mean
    time-zero count of the condition's own wells and ``x0_ctrl`` that of the control wells:
    live-cell imaging counts every well at time zero, so each population is referenced to its
    own start and seeding differences between wells cancel. With ``time0="cell_line"``,
    GRmetrics' convention for time-zero counts (``GRfit`` case "C", ``.convert``) is followed:
    one ``x0``, the mean time-zero count of all wells of the ``by`` level (the drug has not
    acted at time zero, so doses are pooled), is used in both ratios. The two agree when wells
    are seeded alike. GRmetrics averages with a 50 % trimmed mean; the plain mean is used here.

    GR is left empty (with a warning) where the controls have not grown since time zero
    (``x_ctrl <= x0_ctrl``), where the division by their doublings is meaningless.

    Parameters
    ----------
    growth : DataFrame
        The growth table (``well``, ``elapsed_h``, ``count``, ``treatment``, ``dose``, the
        ``by`` columns, optionally ``baseline_h``, ``baseline_count``, ``dose_unit``).
    control : str
        Treatment name of the control wells.
    controls : mapping, optional
        Per-treatment controls overriding ``control``, e.g. ``{"2'3'-cGAMP":
        "Lipofectamine"}`` for a vehicle; the growth table's ``control`` column (from the
        plate map) supplies them too, and ``controls`` wins where both name one.
    by : sequence of str
        Columns that pair a condition with its control (the cell line; add ``"plate"`` when
        several plates are combined).
    time0 : {"condition", "cell_line"}
        Which wells' time-zero counts make ``x0`` (see above).
    per_well : bool
        If True, one row per well and time: ``x(c, t)`` and ``x0`` are the well's own counts
        (GRmetrics computes one GR value per replicate this way, against the mean control),
        and the table has a ``well`` column.
    times : sequence of float, optional
        Only these time points (hours as in ``elapsed_h``); default every time after time
        zero.

    Returns
    -------
    DataFrame
        The ``gr.csv`` table: the ``by`` columns, ``treatment``, ``dose`` (and ``dose_unit``),
        ``elapsed_h``, ``gr``, then ``relative_count`` (``x / x_ctrl``), ``mean_count``
        (``x``), ``mean_count_t0`` (``x0``), ``control_count`` (``x_ctrl``),
        ``control_doublings`` (``log2(x_ctrl / x0_ctrl)``) and ``n_wells``. Control
        conditions are included (GR = 1 by construction).

    Examples
    --------
    >>> t = [0.0, 24.0, 48.0]
    >>> g = pd.DataFrame({"well": ["B2"] * 3 + ["B3"] * 3, "elapsed_h": t * 2,
    ...                   "count": [100, 200, 400, 100, 100, 100], "cell_line": "A",
    ...                   "treatment": ["untreated"] * 3 + ["drug"] * 3, "dose": 1.0})
    >>> gr_values(g)[["treatment", "elapsed_h", "gr", "relative_count"]]
       treatment  elapsed_h   gr  relative_count
    0       drug       24.0  0.0            0.50
    1       drug       48.0  0.0            0.25
    2  untreated       24.0  1.0            1.00
    3  untreated       48.0  1.0            1.00
    """
    if time0 not in ("condition", "cell_line"):
        raise ValueError(f"`time0` must be 'condition' or 'cell_line', got {time0!r}")
    by = list(by)
    _require(growth, ("well", "elapsed_h", "count", "treatment", "dose", *by), "growth")
    df = growth.copy()
    df["count"] = pd.to_numeric(df["count"], errors="coerce").astype(float)
    t0 = _time_zero(df)
    df = df.join(t0, on="well")
    df = df[(df["elapsed_h"] > df["t0_h"]) & df["count"].notna()]
    if times is not None:
        df = df[df["elapsed_h"].isin([float(t) for t in times])]
    df = df[df["count_t0"] > 0]
    if time0 == "cell_line":
        pooled = t0.join(growth.drop_duplicates("well").set_index("well")[by])
        pooled = pooled.groupby(by, dropna=False)["count_t0"].mean().rename("_x0")
        df = df.drop(columns="count_t0").join(pooled, on=by).rename(columns={"_x0": "count_t0"})

    vehicle = _treatment_controls(growth, controls)
    ctrl = df[df["treatment"].isin({control, *vehicle.values()})]
    ctrl_means = ctrl.groupby([*by, "treatment", "elapsed_h"], dropna=False)[
        ["count", "count_t0"]
    ].mean()
    ctrl_means.columns = ["control_count", "control_count_t0"]
    ctrl_means.index = ctrl_means.index.set_names([*by, "control", "elapsed_h"])

    extra = [c for c in ("dose_unit",) if c in df.columns]
    keys = [*by, "treatment", "dose", *extra]
    if per_well:
        out = df[[*keys, "well", "elapsed_h", "count", "count_t0"]].rename(
            columns={"count": "mean_count", "count_t0": "mean_count_t0"}
        )
        out["n_wells"] = 1
    else:
        grouped = df.groupby([*keys, "elapsed_h"], dropna=False, sort=True)
        out = grouped.agg(
            mean_count=("count", "mean"),
            mean_count_t0=("count_t0", "mean"),
            n_wells=("count", "count"),
        ).reset_index()
    out["control"] = out["treatment"].map(lambda t: vehicle.get(t, control))
    _warn_missing_controls(out, ctrl, by)
    out = out.join(ctrl_means, on=[*by, "control", "elapsed_h"])
    with np.errstate(divide="ignore", invalid="ignore"):
        doublings = np.log2(out["control_count"] / out["control_count_t0"])
        treated = np.log2(out["mean_count"] / out["mean_count_t0"])
        gr = np.exp2(treated / doublings.where(doublings > 0)) - 1.0
    stalled = out.loc[doublings <= 0, ["elapsed_h", "control", *by]].drop_duplicates()
    if len(stalled):
        names = ", ".join(f"'{c}'" for c in sorted(stalled["control"].unique()))
        hours = stalled["elapsed_h"]
        warnings.warn(
            f"the control wells ({names}) have not grown since time zero at "
            f"{hours.nunique()} time point(s) (first at {hours.min():g} h): "
            "GR values left empty there",
            IncugrowthWarning,
            stacklevel=2,
        )
    out["gr"] = gr
    out["relative_count"] = out["mean_count"] / out["control_count"]
    out["control_doublings"] = doublings
    lead = [*keys, *(["well"] if per_well else []), "elapsed_h", "gr", "relative_count"]
    detail = ["mean_count", "mean_count_t0", "control", "control_count", "control_doublings"]
    detail.append("n_wells")
    cols = [*lead, *detail]
    out = out[cols]
    sort = [*keys, "well", "elapsed_h"] if per_well else [*keys, "elapsed_h"]
    return out.sort_values(sort, kind="stable").reset_index(drop=True)
