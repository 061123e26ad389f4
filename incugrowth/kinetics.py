"""Growth kinetics: fields to wells, percent change, condition curves, endpoint, growth rates.

Every function takes and returns the tidy tables of the design (``counts``, ``growth``,
``curves``, ``endpoint``); nothing here reads or writes files.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthError, IncugrowthWarning
from incugrowth.platemap import check_plate_map, well_sort_key

__all__ = [
    "CONDITION",
    "check_rate_window",
    "combine_fields",
    "condition_curves",
    "endpoint",
    "growth_rates",
    "growth_table",
    "normalize_to_control",
    "percent_change",
]

#: Columns that identify a condition (one curve) in the growth and curves tables.
CONDITION = ("cell_line", "treatment", "dose")

# Scans of one plate share one elapsed time in IncuCyte exports, but frame file names are
# written to the minute and a user may merge exports; times this close are one time point.
_TIME_DECIMALS = 3


def _join_flags(flags: pd.Series) -> str:
    parts = sorted({f for v in flags.dropna() for f in str(v).split(";") if f})
    return ";".join(parts)


def combine_fields(counts: pd.DataFrame, *, how: str = "mean") -> pd.DataFrame:
    """Combine the fields (images) of each well and time point into one value.

    Parameters
    ----------
    counts : DataFrame
        The counts table: ``well``, ``field`` (NaN for well-level values), ``elapsed_h``,
        ``count`` and optionally ``qc_flag`` and ``confluence``.
    how : {"mean", "sum"}
        ``"mean"`` gives the count per image (the IncuCyte default); ``"sum"`` the count per
        well over all imaged fields, for a per-image metric when a per-well total is wanted.
        Missing fields (NaN) are left out of the mean; a sum with a field missing would drop
        by that field's share, so it is the mean times the number of fields the well has at
        any time, with a warning.

    Returns
    -------
    DataFrame
        One row per well and time: ``well``, ``elapsed_h``, ``count``, ``n_fields`` (fields
        with a value), ``qc_flag`` (the flags of its fields joined by ``;``), and
        ``confluence`` (mean) when present.

    Examples
    --------
    >>> counts = pd.DataFrame({"well": ["B2", "B2", "B2", "B2"], "field": [1, 2, 1, 2],
    ...                        "elapsed_h": [0.0, 0.0, 4.0, 4.0], "count": [10, 20, 30, np.nan]})
    >>> combine_fields(counts)[["well", "elapsed_h", "count", "n_fields"]]
      well  elapsed_h  count  n_fields
    0   B2        0.0   15.0         2
    1   B2        4.0   30.0         1
    """
    if how not in ("mean", "sum"):
        raise ValueError(f"`how` must be 'mean' or 'sum', got {how!r}")
    missing = {"well", "elapsed_h", "count"} - set(counts.columns)
    if missing:
        raise ValueError(f"`counts` lacks the column(s) {sorted(missing)}")
    df = counts.copy()
    df["elapsed_h"] = df["elapsed_h"].astype(float).round(_TIME_DECIMALS)
    df["count"] = pd.to_numeric(df["count"], errors="coerce").astype(float)
    grouped = df.groupby(["well", "elapsed_h"], sort=True)
    out = grouped["count"].agg(["mean", "sum", "count"]).reset_index()
    n_fields = out["count"].astype(int)
    total = out["sum"].where(n_fields > 0)  # a sum over zero fields is missing, not zero cells
    if how == "sum" and "field" in df.columns:
        per_well = df.dropna(subset=["field"]).groupby("well")["field"].nunique()
        fields = out["well"].map(per_well)
        short = (n_fields > 0) & (n_fields < fields)
        if short.any():
            total = total.where(~short, out["mean"] * fields)
            where = [f"{w} at {t:g} h" for w, t in out.loc[short, ["well", "elapsed_h"]].values]
            warnings.warn(
                f"a field is missing in {int(short.sum())} well sum(s) ({_short_list(where, 4)}):"
                " each is the mean of the fields present times the well's number of fields",
                IncugrowthWarning,
                stacklevel=2,
            )
    result = pd.DataFrame(
        {
            "well": out["well"],
            "elapsed_h": out["elapsed_h"],
            "count": out["mean"] if how == "mean" else total,
            "n_fields": n_fields,
        }
    )
    if "qc_flag" in df.columns:
        flags = grouped["qc_flag"].agg(_join_flags).reset_index(drop=True)
        result["qc_flag"] = flags.to_numpy()
    else:
        result["qc_flag"] = ""
    if "confluence" in df.columns:
        result["confluence"] = grouped["confluence"].mean().to_numpy()
    return result


#: Time points less than this many hours apart belong to one scan of the plate: the wells and
#: fields of a scan are imaged one after another, seconds to minutes apart (and image names
#: with the clock time carry those minutes), while scans are further apart.
SCAN_GAP_H = 0.25


def scan_start(times) -> np.ndarray:
    """Each of `times` (hours) replaced by the first time of its scan (time points less than
    :data:`SCAN_GAP_H` apart, one after another, are one scan).

    Examples
    --------
    >>> scan_start([0.0, 0.017, 0.033, 4.0, 4.02]).tolist()
    [0.0, 0.0, 0.0, 4.0, 4.0]
    """
    times = np.asarray(times, dtype=float)
    distinct = np.sort(np.unique(times[np.isfinite(times)]))
    if distinct.size == 0:
        return times.copy()
    scan = np.concatenate([[0], np.cumsum(np.diff(distinct) >= SCAN_GAP_H)])
    first = distinct[np.searchsorted(scan, scan, side="left")]
    out = times.copy()
    finite = np.isfinite(times)
    out[finite] = first[np.searchsorted(distinct, times[finite])]
    return out


def _scan_times(times, at_h: float | None = None) -> np.ndarray:
    """The time points of one scan among `times`: the first scan, or the scan with the time
    nearest `at_h` (a tie goes to the earlier scan). Consecutive time points less than
    :data:`SCAN_GAP_H` apart are one scan."""
    times = np.sort(np.unique(np.asarray(times, dtype=float)))
    scan = np.concatenate([[0], np.cumsum(np.diff(times) >= SCAN_GAP_H)])
    if at_h is None:
        return times[scan == 0]
    return times[scan == scan[np.argmin(np.abs(times - at_h))]]


def percent_change(
    well_counts: pd.DataFrame, *, baseline_h: float | None = None, tolerance_h: float = 2.0
) -> pd.DataFrame:
    """Add ``baseline_h``, ``baseline_count`` and ``pct_change`` to a well x time table.

    ``pct_change = 100 * (count / count at baseline - 1)``, per well. The baseline is one scan
    of the whole plate, so that every well's change is measured over the same hours: the first
    scan in which any well has a count, or the scan nearest ``baseline_h`` (within
    ``tolerance_h``; a tie goes to the earlier one). Time points less than
    :data:`SCAN_GAP_H` apart are one scan (wells imaged minutes apart, as clock-time image
    names show); each well's baseline is its count in that scan, and ``baseline_h`` its time.
    A well without a count (or with 0) in that scan gets NaN with a warning; it is not
    measured from a later scan instead (pass a later ``baseline_h`` to move every well's
    baseline).

    Examples
    --------
    >>> wc = pd.DataFrame({"well": ["B2"] * 3, "elapsed_h": [0.0, 24.0, 48.0],
    ...                    "count": [100.0, 150.0, 400.0]})
    >>> percent_change(wc)["pct_change"].tolist()
    [0.0, 50.0, 300.0]
    """
    df = well_counts.copy()
    times = np.sort(df.loc[df["count"].notna(), "elapsed_h"].dropna().unique())
    if times.size == 0:
        raise IncugrowthError("no well has a count: percent change needs a baseline count")
    if baseline_h is None:
        base_h = float(times[0])
    else:
        base_h = float(times[np.argmin(np.abs(times - float(baseline_h)))])
        if abs(base_h - float(baseline_h)) > tolerance_h:
            raise IncugrowthError(
                f"no time point within {tolerance_h} h of the baseline {baseline_h} h "
                f"(nearest with a count: {base_h:g} h); choose a baseline that was imaged"
            )
    scan = _scan_times(times, base_h)
    at_base = (
        df[df["elapsed_h"].isin(scan)]
        .dropna(subset=["count"])
        .sort_values("elapsed_h", kind="stable")
        .drop_duplicates("well")
        .set_index("well")
    )
    df["baseline_h"] = df["well"].map(at_base["elapsed_h"]).astype(float).fillna(base_h)
    df["baseline_count"] = df["well"].map(at_base["count"]).astype(float)
    bad = sorted(df.loc[~(df["baseline_count"] > 0), "well"].unique(), key=well_sort_key)
    if bad:
        warnings.warn(
            f"no usable baseline count (missing or zero) at {base_h:g} h for well(s) "
            f"{_short_list(bad)}: their percent change is left empty; a later baseline "
            "(`baseline_h`, --baseline) moves the baseline of every well",
            IncugrowthWarning,
            stacklevel=2,
        )
    ratio = df["count"] / df["baseline_count"].where(df["baseline_count"] > 0)
    df["pct_change"] = 100.0 * (ratio - 1.0)
    return df


def growth_table(
    counts: pd.DataFrame,
    plate_map: pd.DataFrame,
    *,
    how: str = "mean",
    baseline_h: float | None = None,
) -> pd.DataFrame:
    """Counts and plate map to the growth table (well x time, with percent change).

    Wells with data but not in the plate map are left out with a warning; wells in the plate
    map without data are reported the same way. Wells of one condition (cell line, treatment,
    dose) that the plate map gives different settings (:data:`SETTING_COLUMNS`, e.g. two
    seeding densities) are pooled as replicates, with a warning.

    Returns
    -------
    DataFrame
        ``well``, ``elapsed_h``, ``count``, ``n_fields``, ``qc_flag``, ``baseline_h``,
        ``baseline_count``, ``pct_change`` and the plate-map columns (``cell_line``,
        ``treatment``, ``dose``, ``dose_unit``, ...).
    """
    wells = combine_fields(counts, how=how)
    check_plate_map(plate_map, wells["well"].unique())
    _pooled_settings(plate_map)
    mapped = set(plate_map["well"])
    seen = set(wells["well"])
    wells = wells[wells["well"].isin(mapped)]
    if wells.empty:
        raise IncugrowthError(
            "no well of the data is in the plate map: check that the plate map belongs to "
            "this plate (wells in data: " + _short_list(sorted(seen, key=well_sort_key)) + ")"
        )
    grown = percent_change(wells, baseline_h=baseline_h)
    annot = plate_map.drop(columns=[c for c in ("row", "col") if c in plate_map.columns])
    out = grown.merge(annot, on="well", how="left", validate="many_to_one")
    key = out["well"].map(well_sort_key)
    out = out.assign(_k=key).sort_values(["_k", "elapsed_h"]).drop(columns="_k")
    return out.reset_index(drop=True)


#: Plate-map annotations under which wells are different conditions when they differ: the
#: growth condition of an IncuCyte .PlateMap, its cell types' seeding density and passage,
#: and the same names in a CSV plate map (any column naming a seeding density counts too).
SETTING_COLUMNS = ("growth_condition", "seeding_density", "passage", "medium")


def _pooled_settings(plate_map: pd.DataFrame) -> list[str]:
    """Warn when the wells of one condition (cell line, treatment, dose) differ in a setting
    of :data:`SETTING_COLUMNS` (e.g. two seeding densities): they are pooled as replicates,
    which is right only if the setting does not matter. Returns the warnings given."""
    keys = [c for c in (*CONDITION, "dose_unit") if c in plate_map.columns]
    settings = [c for c in plate_map.columns if c in SETTING_COLUMNS or "seeding" in str(c).lower()]
    if not keys or not settings:
        return []
    said = []
    for column in settings:
        values = plate_map[column].astype("string").str.strip().replace("", pd.NA)
        if values.isna().all():
            continue
        groups = values.fillna("(none)").groupby(
            [plate_map[k] for k in keys], dropna=False, sort=False
        )
        mixed = [(name, group.unique()) for name, group in groups if group.nunique() > 1]
        if not mixed:
            continue
        examples = "; ".join(
            " ".join(str(v) for v in (name if isinstance(name, tuple) else (name,))
                     if pd.notna(v) and str(v) != "")
            + f" ({', '.join(map(str, found[:4]))})"
            for name, found in mixed[:3]
        )  # fmt: skip
        said.append(
            f"plate map: {len(mixed)} condition(s) hold wells of different {column} "
            f"(e.g. {examples}); they are pooled as replicates of one condition; if the "
            f"{column} matters, name the conditions apart (in the treatment or cell line)"
        )
    for message in said:
        warnings.warn(message, IncugrowthWarning, stacklevel=3)
    return said


def _condition_keys(df: pd.DataFrame) -> list[str]:
    return [c for c in CONDITION if c in df.columns]


def condition_curves(growth: pd.DataFrame, *, value: str = "pct_change") -> pd.DataFrame:
    """Mean, SD, SEM and number of wells per condition and time point.

    SD is the sample standard deviation (ddof=1) across replicate wells, as Prism reports;
    with one well SD and SEM are NaN.

    Examples
    --------
    >>> g = pd.DataFrame({"cell_line": ["M407"] * 3, "treatment": ["untreated"] * 3,
    ...                   "dose": [np.nan] * 3, "well": ["B2", "B3", "B4"],
    ...                   "elapsed_h": [72.0] * 3, "pct_change": [300.0, 350.0, 400.0]})
    >>> condition_curves(g)[["mean", "sd", "sem", "n_wells"]].round(3)
        mean    sd     sem  n_wells
    0  350.0  50.0  28.868        3
    """
    keys = _condition_keys(growth)
    extra = [c for c in ("dose_unit",) if c in growth.columns]
    # Conditions keep their plate-map order (the order scientists laid the plate out in).
    grouped = growth.groupby([*keys, *extra, "elapsed_h"], dropna=False, sort=False)[value]
    out = grouped.agg(mean="mean", sd="std", n_wells="count").reset_index()
    out["_order"] = out.groupby(keys, sort=False, dropna=False).ngroup()
    out = out.sort_values(["_order", "elapsed_h"], kind="stable").reset_index(drop=True)
    out["sem"] = out["sd"] / np.sqrt(out["n_wells"])
    out.loc[out["n_wells"] < 2, ["sd", "sem"]] = np.nan
    cols = [*keys, *extra, "elapsed_h", "mean", "sd", "sem", "n_wells"]
    return out[cols]


def normalize_to_control(
    growth: pd.DataFrame,
    *,
    control: str = "untreated",
    value: str = "count",
    by: str = "cell_line",
) -> pd.DataFrame:
    """Add ``pct_of_control``: each well's value as percent of its control's mean at that time.

    The control is the ``control`` treatment of the same ``by`` level (cell line). Levels
    without a control get NaN and a warning.

    Examples
    --------
    >>> g = pd.DataFrame({"cell_line": ["A"] * 3, "treatment": ["untreated", "untreated", "x"],
    ...                   "elapsed_h": [72.0] * 3, "count": [200.0, 300.0, 125.0]})
    >>> normalize_to_control(g)["pct_of_control"].tolist()
    [80.0, 120.0, 50.0]
    """
    ctrl = growth[growth["treatment"] == control]
    means = ctrl.groupby([by, "elapsed_h"])[value].mean().rename("_ctrl")
    out = growth.join(means, on=[by, "elapsed_h"])
    lacking = sorted(set(out.loc[out["_ctrl"].isna(), by].dropna()))
    if lacking:
        warnings.warn(
            f"no '{control}' wells for {by} {', '.join(map(str, lacking))}: "
            "percent of control left empty there",
            IncugrowthWarning,
            stacklevel=2,
        )
    out["pct_of_control"] = 100.0 * out[value] / out["_ctrl"]
    return out.drop(columns="_ctrl")


def endpoint(growth: pd.DataFrame, at_h: float = 72.0, *, tolerance_h: float = 6.0) -> pd.DataFrame:
    """Rows of the growth table at the time point nearest ``at_h``.

    The nearest scan in which any well has a value (of the whole plate, so all wells are
    compared at one time) is used if it lies within ``tolerance_h``; a tie (scans at 70 and
    74 h for 72 h) goes to the earlier scan. Time points less than :data:`SCAN_GAP_H` apart
    are one scan (wells imaged minutes apart). A scan without any value (a failed scan of the
    whole plate) is passed over. The hour actually used, the scan's time nearest ``at_h``, is
    the ``endpoint_h`` column. Wells of the growth table without a value there (missing, or
    not imaged at that time) are named in a warning.

    Examples
    --------
    >>> g = pd.DataFrame({"well": ["B2"] * 3, "elapsed_h": [0.0, 71.5, 96.0],
    ...                   "pct_change": [0.0, 310.0, 450.0]})
    >>> endpoint(g, 72)[["well", "endpoint_h", "pct_change"]]
      well  endpoint_h  pct_change
    0   B2        71.5       310.0
    """
    value = "pct_change" if "pct_change" in growth.columns else "count"
    if value not in growth.columns or "elapsed_h" not in growth.columns:
        raise IncugrowthError(
            "`growth` needs the columns 'elapsed_h' and 'pct_change' (or 'count'); got "
            f"{list(map(str, growth.columns))}"
        )
    times = np.sort(growth.loc[growth[value].notna(), "elapsed_h"].dropna().unique())
    if times.size == 0:
        raise IncugrowthError(f"the growth table has no time point with a {value!r} value")
    nearest = float(times[np.argmin(np.abs(times - at_h))])
    if abs(nearest - at_h) > tolerance_h:
        raise IncugrowthError(
            f"no time point within {tolerance_h} h of the endpoint {at_h} h "
            f"(imaged from {times[0]:g} to {times[-1]:g} h); pass an endpoint that was imaged "
            "or widen the tolerance"
        )
    out = growth[growth["elapsed_h"].isin(_scan_times(times, nearest))].copy()
    out.insert(out.columns.get_loc("elapsed_h") + 1, "endpoint_h", nearest)
    if "well" in growth.columns:
        found = set(out.loc[out[value].notna(), "well"])
        lost = sorted(set(growth["well"].dropna()) - found, key=well_sort_key)
        if lost:
            warnings.warn(
                f"no value at the endpoint ({nearest:g} h) for well(s) {_short_list(lost)}: "
                "left out of the endpoint statistics",
                IncugrowthWarning,
                stacklevel=2,
            )
    return out.reset_index(drop=True)


def check_rate_window(start_h: float | None, end_h: float | None) -> None:
    """Raise when a growth-rate window (``--rate-window START END``) does not start before it
    ends, with what to give instead.

    Raises
    ------
    IncugrowthError
        When both ends are given and ``start_h`` is not before ``end_h``.

    Examples
    --------
    >>> check_rate_window(24, 72)
    >>> check_rate_window(72, 24)
    Traceback (most recent call last):
    ...
    incugrowth.errors.IncugrowthError: growth-rate window 72 24 h: ...; give 24 72 for the fit ...
    """
    if start_h is None or end_h is None or start_h < end_h:
        return
    window = f"growth-rate window {start_h:g} {end_h:g} h: the start must be before the end"
    if start_h > end_h:
        raise IncugrowthError(
            f"{window}; give {end_h:g} {start_h:g} for the fit from {end_h:g} h to {start_h:g} h"
        )
    raise IncugrowthError(
        f"{window}; a rate is fitted over a span of time, so give an end after {start_h:g} h "
        "(or no window, for the whole time course)"
    )


def growth_rates(
    growth: pd.DataFrame,
    *,
    start_h: float | None = None,
    end_h: float | None = None,
    value: str = "count",
) -> pd.DataFrame:
    """Per-well exponential growth rate and doubling time from a log-linear fit.

    Fits ``ln(count) = a + r * t`` by least squares over ``start_h <= t <= end_h`` (whole
    course by default), as R ``lm(log(count) ~ elapsed_h)``: ``rate_se`` is the standard error
    of the slope (NaN with fewer than 3 points). Doubling time is ``ln 2 / r`` hours for
    ``r > 0`` and NaN otherwise. A zero count has no logarithm: it is left out of the fit with a
    warning naming the well, and a well without two positive counts in the window has no rate
    (named in a warning when a window is given: one outside the imaged hours fits nothing).

    Returns
    -------
    DataFrame
        ``well``, ``rate_per_h``, ``rate_se``, ``doubling_time_h``, ``r_squared``,
        ``n_points``, ``start_h``, ``end_h`` and the plate-map columns of the well.

    Raises
    ------
    IncugrowthError
        When ``start_h`` is not before ``end_h``.

    Examples
    --------
    >>> t = np.arange(0.0, 50.0, 12.0)
    >>> g = pd.DataFrame({"well": "B2", "elapsed_h": t, "count": 100 * 2 ** (t / 24)})
    >>> growth_rates(g)[["doubling_time_h", "r_squared", "n_points"]].round(6)
       doubling_time_h  r_squared  n_points
    0             24.0        1.0         5
    """
    check_rate_window(start_h, end_h)
    df = growth[growth[value].notna()]
    if start_h is not None:
        df = df[df["elapsed_h"] >= start_h]
    if end_h is not None:
        df = df[df["elapsed_h"] <= end_h]
    positive = df[value] > 0
    if not positive.all():
        wells = sorted(df.loc[~positive, "well"].unique(), key=well_sort_key)
        warnings.warn(
            f"{int((~positive).sum())} zero or negative {value}(s) left out of the log-linear "
            f"growth-rate fit (well(s) {_short_list(wells)})",
            IncugrowthWarning,
            stacklevel=2,
        )
    df = df[positive].copy()
    df["_y"] = np.log(df[value].astype(float))
    df["_t"] = df["elapsed_h"].astype(float)
    g = df.groupby("well", sort=False)
    n = g["_t"].count()
    tm, ym = g["_t"].mean(), g["_y"].mean()
    dt = df["_t"] - df["well"].map(tm)
    dy = df["_y"] - df["well"].map(ym)
    sxx = (dt * dt).groupby(df["well"]).sum()
    sxy = (dt * dy).groupby(df["well"]).sum()
    syy = (dy * dy).groupby(df["well"]).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (sxy / sxx).where(n >= 2)
        # Residuals summed directly: syy - rate * sxy cancels badly for a near-perfect fit.
        resid = dy - df["well"].map(rate) * dt
        rss = (resid * resid).groupby(df["well"]).sum()
        se = np.sqrt(rss / (n - 2) / sxx).where(n >= 3)
        r2 = (1 - rss / syy).where(syy > 0)
    out = pd.DataFrame(
        {
            "rate_per_h": rate,
            "rate_se": se,
            "doubling_time_h": (np.log(2) / rate).where(rate > 0),
            "r_squared": r2,
            "n_points": n.astype(int),
            "start_h": g["_t"].min(),
            "end_h": g["_t"].max(),
        }
    )
    # every well keeps its row: one without a usable point has no rate, and says so
    out = out.reindex(pd.Index(growth["well"].dropna().unique(), name="well"))
    out["n_points"] = out["n_points"].fillna(0).astype(int)
    if start_h is not None or end_h is not None:
        short = sorted(out.index[out["n_points"] < 2], key=well_sort_key)
        if short:
            window = f"{'' if start_h is None else f'{start_h:g}'}\u2013"
            window += "" if end_h is None else f"{end_h:g}"
            times = growth["elapsed_h"].dropna()
            imaged = f"{times.min():g} to {times.max():g} h" if len(times) else "no time"
            warnings.warn(
                f"no growth rate for {len(short)} of {len(out)} well(s) "
                f"({_short_list(short)}): fewer than two positive {value}s in the growth-rate "
                f"window {window} h (imaged {imaged})",
                IncugrowthWarning,
                stacklevel=2,
            )
    out = out.reset_index()
    annot = [c for c in (*CONDITION, "dose_unit") if c in growth.columns]
    if annot:
        out = out.merge(growth[["well", *annot]].drop_duplicates("well"), on="well", how="left")
    return out


def _short_list(items, limit: int = 8) -> str:
    items = list(items)
    text = ", ".join(map(str, items[:limit]))
    return text + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def split_doses(table: pd.DataFrame, controls: dict) -> tuple[pd.DataFrame, dict]:
    """Give each dose of a dose series its own condition, so that Dunnett's test compares
    every dose with the control instead of pooling them.

    A treatment given at several doses becomes one treatment per dose ("IFN gamma 10 ng/ml");
    a control named for the treatment in `controls` is carried over to each dose.

    Examples
    --------
    >>> t = pd.DataFrame({"treatment": ["untreated", "IFN gamma", "IFN gamma"],
    ...                   "dose": [float("nan"), 10.0, 100.0], "dose_unit": ["", "ng/ml", "ng/ml"]})
    >>> split_doses(t, {})[0]["treatment"].tolist()
    ['untreated', 'IFN gamma 10 ng/ml', 'IFN gamma 100 ng/ml']
    """
    from incugrowth.plots import condition_label

    if "dose" not in table.columns:
        return table, controls
    multi = table.groupby("treatment")["dose"].nunique()
    multi = set(multi[multi > 1].index)
    if not multi:
        return table, controls
    table = table.copy()
    rows = table["treatment"].isin(multi)
    labels = [condition_label(r, True) for r in table.loc[rows].to_dict("records")]
    controls = dict(controls)
    for label, original in zip(labels, table.loc[rows, "treatment"]):
        if original in controls:
            controls[label] = controls[original]
    table.loc[rows, "treatment"] = labels
    return table, controls
