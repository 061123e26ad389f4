"""Plate-position checks: outer wells against inner wells of the same condition (edge effect).

Wells on the edge of a plate lose more medium to evaporation and sit at another temperature
than inner wells, and often grow differently. Comparing outer with inner wells *of the same
condition* (cell line, treatment, dose) keeps the treatments' own effects out of the
comparison: each condition that has wells of both kinds gives one difference, outer mean minus
inner mean, and the test asks whether these differences are zero on average.

The test is a paired t-test across conditions (the one-sample t-test of the per-condition
differences against 0, two-sided): the differences are compared with their own spread from
condition to condition, so an edge effect is flagged only when outer wells differ
consistently, beyond the scatter of wells within a condition. It needs at least three
conditions with both outer and inner wells; with fewer, nothing is tested.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthWarning

__all__ = [
    "EDGE_COLUMNS",
    "edge_effect_test",
    "edge_effects",
    "is_outer_well",
    "relative_to_condition",
    "warn_edge_effect",
]

EDGE_COLUMNS = [
    "cell_line",
    "treatment",
    "dose",
    "n_outer",
    "n_inner",
    "outer_mean",
    "inner_mean",
    "difference",
    "outer_wells",
]

#: Fewest conditions with both outer and inner wells for the test.
MIN_CONDITIONS = 3
ALPHA = 0.05


def _shape(wells) -> tuple[int, int]:
    from incugrowth.platemap import PLATE_SHAPES, infer_plate_size

    return PLATE_SHAPES[infer_plate_size(wells)]


def is_outer_well(wells, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Whether each well lies on the plate's edge (first or last row or column).

    ``shape`` (rows, columns) defaults to the smallest standard plate holding the wells
    (96 wells: A-H x 1-12; 384: A-P x 1-24).

    Examples
    --------
    >>> is_outer_well(["A1", "B2", "H6", "D12", "E7"]).tolist()
    [True, False, True, True, False]
    >>> is_outer_well(["H6", "P24"]).tolist()  # a 384-well plate: row H is inside
    [False, True]
    """
    from incugrowth.platemap import well_sort_key

    wells = [str(w) for w in wells]
    rows, cols = shape or _shape(wells)
    out = []
    for w in wells:
        r, c = well_sort_key(w)
        out.append(r in (0, rows - 1) or c in (1, cols))
    return np.array(out, dtype=bool)


def _keys(endpoint: pd.DataFrame) -> list[str]:
    return [c for c in ("cell_line", "treatment", "dose") if c in endpoint.columns]


def edge_effects(endpoint: pd.DataFrame, *, value: str = "pct_change", shape=None) -> pd.DataFrame:
    """Outer against inner wells of each condition at the endpoint.

    Parameters
    ----------
    endpoint : pandas.DataFrame
        The endpoint table (one row a well).
    value : str
        The column compared (percent change by default).
    shape : (rows, columns), optional
        The plate's shape (default: inferred from the wells, 96 or 384).

    Returns
    -------
    pandas.DataFrame
        One row a condition: :data:`EDGE_COLUMNS`; ``difference`` = outer mean - inner mean,
        NaN where the condition has wells of one kind only.

    Examples
    --------
    >>> end = pd.DataFrame({"well": ["B1", "B2", "B3", "C1", "C2", "C3"],
    ...                     "cell_line": "M420", "treatment": ["untreated"] * 3 + ["IFN"] * 3,
    ...                     "pct_change": [250.0, 300, 310, 50, 80, 70]})
    >>> edge_effects(end)[["treatment", "n_outer", "n_inner", "difference"]]
       treatment  n_outer  n_inner  difference
    0  untreated        1        2       -55.0
    1        IFN        1        2       -25.0
    """
    keys = _keys(endpoint)
    data = endpoint.dropna(subset=[value]).drop_duplicates("well")
    outer = is_outer_well(data["well"], shape=shape or _shape(endpoint["well"]))
    data = data.assign(_outer=outer)
    rows = []
    for key, sub in data.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        out_v = sub.loc[sub["_outer"], value].to_numpy(dtype=float)
        in_v = sub.loc[~sub["_outer"], value].to_numpy(dtype=float)
        o = out_v.mean() if out_v.size else np.nan
        i = in_v.mean() if in_v.size else np.nan
        named = dict(zip(keys, key))
        rows.append(
            {
                "cell_line": named.get("cell_line"),
                "treatment": named.get("treatment"),
                "dose": named.get("dose", np.nan),
                "n_outer": int(out_v.size),
                "n_inner": int(in_v.size),
                "outer_mean": o,
                "inner_mean": i,
                "difference": o - i,
                "outer_wells": " ".join(sub.loc[sub["_outer"], "well"].astype(str)),
            }
        )
    return pd.DataFrame(rows, columns=EDGE_COLUMNS)


def edge_effect_test(table: pd.DataFrame) -> dict:
    """The paired t-test of an :func:`edge_effects` table (see the module's text).

    Returns
    -------
    dict
        ``n_conditions`` (with both kinds of wells), ``mean_difference``, ``sd_difference``,
        ``t``, ``df``, ``p`` (NaN when fewer than three conditions have both) and
        ``flagged`` (P < 0.05).

    Examples
    --------
    >>> t = pd.DataFrame({"difference": [-55.0, -25.0, -40.0, np.nan]})
    >>> res = edge_effect_test(t)
    >>> res["n_conditions"], round(res["mean_difference"], 1), round(res["p"], 3)
    (3, -40.0, 0.044)
    """
    from scipy import stats

    d = table["difference"].dropna().to_numpy(dtype=float)
    out = {
        "n_conditions": int(d.size),
        "mean_difference": float(d.mean()) if d.size else np.nan,
        "sd_difference": float(d.std(ddof=1)) if d.size > 1 else np.nan,
        "t": np.nan,
        "df": int(d.size - 1) if d.size else 0,
        "p": np.nan,
        "flagged": False,
    }
    if d.size >= MIN_CONDITIONS and np.ptp(d) > 0:
        res = stats.ttest_1samp(d, 0.0)
        out["t"], out["p"] = float(res.statistic), float(res.pvalue)
        out["flagged"] = bool(res.pvalue < ALPHA)
    return out


def warn_edge_effect(table: pd.DataFrame, value: str = "pct_change") -> str | None:
    """An :class:`~incugrowth.errors.IncugrowthWarning` when outer wells differ from inner
    wells of the same conditions (:func:`edge_effect_test`); returns its text, or None."""
    res = edge_effect_test(table)
    if not res["flagged"]:
        return None
    what = "percent change" if value == "pct_change" else value
    way = "more" if res["mean_difference"] > 0 else "less"
    text = (
        f"edge effect: outer wells (plate edge) grew {way} than inner wells of the same "
        f"condition, by {abs(res['mean_difference']):.3g} points of {what} on average over "
        f"{res['n_conditions']} conditions (paired t-test P = {res['p']:.2g}; "
        "edge_effects.csv): evaporation or temperature at the edge may bias conditions whose "
        "wells lie there; consider filling the outer wells with medium only"
    )
    warnings.warn(text, IncugrowthWarning, stacklevel=2)
    return text


def relative_to_condition(endpoint: pd.DataFrame, value: str = "count") -> pd.Series:
    """Each well's ``value`` as percent difference from its condition's mean (by well).

    A plate heat map of this shows where on the plate wells differ from their replicates,
    with the treatments' own effects taken out.

    Examples
    --------
    >>> end = pd.DataFrame({"well": ["A1", "A2", "B1", "B2"], "cell_line": "M420",
    ...                     "treatment": ["u", "u", "t", "t"], "count": [90.0, 110, 45, 55]})
    >>> relative_to_condition(end).tolist()
    [-10.0, 10.0, -10.0, 10.0]
    """
    keys = _keys(endpoint)
    data = endpoint.drop_duplicates("well")
    mean = data.groupby(keys, sort=False, dropna=False)[value].transform("mean")
    rel = 100.0 * (data[value] / mean - 1.0)
    return pd.Series(rel.to_numpy(), index=data["well"].astype(str).to_numpy(), name=value)
