"""Dunnett's comparisons of each treatment with its control, one family per cell line or time."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthError
from incugrowth.stats._common import (
    _drop_flat_levels,
    _fmt,
    _levels,
    _prepare,
    _residual_df,
    _warn_all,
    stars,
)
from incugrowth.stats.mvt import _family_inference

DUNNETT_COLUMNS = [
    "treatment",
    "control",
    "mean_diff",
    "se",
    "t",
    "df",
    "p_adj",
    "ci_low",
    "ci_high",
    "stars",
    "n_treatment",
    "n_control",
    "mean_treatment",
    "mean_control",
]

ALTERNATIVES = ("two-sided", "less", "greater")


def _cells(frame: pd.DataFrame, dv: str, keys: list[str]) -> pd.DataFrame:
    """n, mean and within-cell sum of squares of each combination of ``keys``."""
    grouped = frame.groupby(keys, sort=False, observed=True)[dv]
    mean = grouped.transform("mean")
    resid2 = (frame[dv] - mean) ** 2
    out = grouped.agg(n="size", mean="mean")
    out["ss"] = resid2.groupby([frame[k] for k in keys], sort=False, observed=True).sum()
    return out.reset_index()


def _control_map(control, controls, treatments) -> dict:
    """Check ``controls`` and return treatment -> its control (acyclic)."""
    if controls is None:
        controls = {}
    if not isinstance(controls, Mapping):
        raise IncugrowthError(
            f"`controls` must map treatment -> its control, e.g. "
            f"{{\"2'3'-cGAMP\": 'Lipofectamine'}}, got {type(controls).__name__}"
        )
    # a treatment mapped to itself (a control column listing the control) is a control only
    only_control = {t for t, c in controls.items() if t == c}
    controls = {t: c for t, c in controls.items() if t != c}
    parent = {
        t: controls.get(t, control)
        for t in treatments
        if (t != control or t in controls) and t not in only_control
    }
    parent |= controls
    for start in parent:
        path, node = [start], start
        while node in parent:
            node = parent[node]
            if node in path:
                cycle = " -> ".join(map(repr, [*path[path.index(node) :], node]))
                raise IncugrowthError(
                    f"`controls` makes a cycle ({cycle}): each treatment must lead back to "
                    f"{control!r} or to a control that is not itself compared"
                )
            path.append(node)
    return parent


def _dunnett_table(frame, dv, treatment, by, control, controls, pooled, alternative, conf_level):
    """The Dunnett table and the messages of what could not be compared (never raises for it)."""
    messages: list[str] = []
    keys = [treatment] if by is None else [by, treatment]
    cells = _cells(frame, dv, keys)
    all_treatments = _levels(frame[treatment])
    parent = _control_map(control, controls, all_treatments)
    if control not in all_treatments and not any(p in all_treatments for p in parent.values()):
        raise IncugrowthError(
            f"no {control!r} wells: the control must be one of the values of {treatment!r} "
            f"({', '.join(map(repr, all_treatments))})"
        )

    if pooled:
        ms, df = _pooled_error(cells)
    levels = [None] if by is None else _levels(frame[by])
    rows = []
    for level in levels:
        here = cells if by is None else cells[cells[by] == level]
        label = "" if by is None else f"{by} {_fmt(level)}: "
        if not pooled:
            single = here[here["n"] < 2]
            if len(single):
                messages.append(
                    f"{label}left out {', '.join(map(repr, single[treatment]))} (1 well): an "
                    f"unpooled test needs >= 2 wells per group; pooled=True tests it against the "
                    f"residual variance of the whole design"
                )
                here = here[here["n"] >= 2]
        stats_of = {r[treatment]: r for r in here.to_dict("records")}
        edges, missing = [], {}
        for t in all_treatments:
            if t not in stats_of or t not in parent:
                continue
            c = parent[t]
            if c in stats_of:
                edges.append((t, c))
            else:
                missing.setdefault(c, []).append(t)
        if missing:
            what = "; ".join(
                f"no {c!r} wells to compare {', '.join(map(repr, ts))} with"
                for c, ts in missing.items()
            )
            head = f"{by} {_fmt(level)} skipped" if by is not None else "skipped"
            messages.append(f"{head}: {what}" if not edges else f"{label}{what} (skipped)")
        if not edges:
            continue
        if not pooled:
            ms, df = _pooled_error(here)
        rows.extend(
            _family_rows(edges, stats_of, ms, df, alternative, conf_level, by, level, treatment, dv)
        )

    columns = ([] if by is None else [by]) + DUNNETT_COLUMNS
    table = pd.DataFrame(rows, columns=columns)
    if by is not None and not table.empty:
        table[by] = table[by].astype(frame[by].dtype)
    for col in ("df", "n_treatment", "n_control"):
        table[col] = table[col].astype(int)
    for col in ("treatment", "control", "stars"):
        table[col] = table[col].astype(object)
    table.attrs.update(
        {
            "pooled": pooled,
            "alternative": alternative,
            "conf_level": conf_level,
            "dv": dv,
            "family": f"one family per {by}" if by is not None else "one family",
        }
    )
    if pooled:
        table.attrs.update({"ms_resid": ms, "df_resid": df})
    return table, messages


def _pooled_error(cells: pd.DataFrame) -> tuple[float, int]:
    df = _residual_df(int(cells["n"].sum()), len(cells))
    return float(cells["ss"].sum() / df), df


def _family_rows(edges, stats_of, ms, df, alternative, conf_level, by, level, treatment, dv):
    variances = {g: 1.0 / stats_of[g]["n"] for edge in edges for g in edge}
    diff = np.array([stats_of[t]["mean"] - stats_of[c]["mean"] for t, c in edges])
    se = np.sqrt(ms * np.array([variances[t] + variances[c] for t, c in edges]))
    if ms == 0:
        raise IncugrowthError(
            f"{dv!r} has no variation within groups (residual mean square 0): a test is not "
            f"possible; check that {dv!r} is the measured response"
        )
    t_stat = diff / se
    p_adj, crit = _family_inference(variances, edges, t_stat, df, alternative, conf_level)
    low = diff - crit * se if alternative != "less" else np.full(len(edges), -np.inf)
    high = diff + crit * se if alternative != "greater" else np.full(len(edges), np.inf)
    rows = []
    for i, (t, c) in enumerate(edges):
        row = {} if by is None else {by: level}
        row |= {
            "treatment": t,
            "control": c,
            "mean_diff": diff[i],
            "se": se[i],
            "t": t_stat[i],
            "df": df,
            "p_adj": p_adj[i],
            "ci_low": low[i],
            "ci_high": high[i],
            "stars": stars(p_adj[i]),
            "n_treatment": stats_of[t]["n"],
            "n_control": stats_of[c]["n"],
            "mean_treatment": stats_of[t]["mean"],
            "mean_control": stats_of[c]["mean"],
        }
        rows.append(row)
    return rows


def _check_dunnett_args(alternative, conf_level, pooled):
    if alternative not in ALTERNATIVES:
        raise IncugrowthError(
            f"`alternative` must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}"
        )
    if not (isinstance(conf_level, float | int) and 0 < conf_level < 1):
        raise IncugrowthError(f"`conf_level` must be between 0 and 1, got {conf_level!r}")
    if not isinstance(pooled, bool | np.bool_):
        raise IncugrowthError(f"`pooled` must be True or False, got {pooled!r}")


def dunnett(
    data: pd.DataFrame,
    dv: str = "pct_change",
    treatment: str = "treatment",
    by: str | None = "cell_line",
    control: str = "untreated",
    pooled: bool = True,
    alternative: str = "two-sided",
    conf_level: float = 0.95,
    controls: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Dunnett's comparisons of each treatment with its control within each level of ``by``.

    **Family.** One family of comparisons per level of ``by`` (each cell line, or each time
    point), holding every comparison of that level: each treatment against ``control`` and,
    where ``controls`` gives a treatment its own control (a vehicle), that treatment against it.
    The adjusted P values and simultaneous confidence intervals come from the multivariate t
    distribution of all comparisons of the family, with the exact correlations implied by the
    group sizes (as R ``emmeans`` with ``adjust = "mvt"`` and ``multcomp::glht`` do for an
    arbitrary set of contrasts; with one control this is Dunnett's test for unequal n). The
    probabilities are computed by deterministic quadrature to about 1e-10, so results do not
    change from run to run.

    **Error term.** With ``pooled=True`` the standard error uses the residual mean square and
    degrees of freedom of the full ``by x treatment`` cell-means model (all cells of the design,
    also those not compared), as Prism and R ``emmeans`` do after a two-way ANOVA with
    interaction. For a repeated-measures layout (wells followed over time, ``by="elapsed_h"``)
    this is Prism's "MS within cells", ``(SS_subject + SS_residual) / (df_subject +
    df_residual)`` of :func:`rm_two_way_anova`: at one time point each treatment has its own
    wells, so the comparison is between independent groups. With ``pooled=False`` each level is
    a separate one-way analysis (the error pooled over the groups of that level only), which
    equals :func:`scipy.stats.dunnett` on the same data; groups with a single well are then left
    out with a warning.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table, one row a well (at one time point).
    dv : str
        Response column.
    treatment : str
        Column whose levels are compared with the control.
    by : str or None
        Column defining the families (``"cell_line"``, or ``"elapsed_h"`` for a growth-curve
        layout within one cell line); None for a single family.
    control : str
        The control level of ``treatment``.
    pooled : bool
        Error term, see above.
    alternative : {"two-sided", "less", "greater"}
        ``"less"``: treatment mean below control (growth inhibition).
    conf_level : float
        Confidence level of the simultaneous intervals.
    controls : mapping, optional
        Treatment -> its own control, e.g. ``{"2'3'-cGAMP": "Lipofectamine"}``; a treatment
        mapped to itself is a control only (not compared). Chains are allowed, cycles are not.

    Returns
    -------
    pandas.DataFrame
        One row a comparison: ``by`` (when given), ``treatment``, ``control``, ``mean_diff``
        (treatment minus control), ``se``, ``t``, ``df``, ``p_adj``, ``ci_low``, ``ci_high``
        (one-sided alternatives give an infinite bound), ``stars``, ``n_treatment``,
        ``n_control``, ``mean_treatment``, ``mean_control``.

    Warns
    -----
    IncugrowthWarning
        A level of ``by`` without its control (its comparisons are skipped), rows with a
        missing response, single-well groups in unpooled mode, a level of ``by`` at which every
        value is the same (left out: percent change at the baseline, 0 in every well, would
        add residual degrees of freedom without variance).

    Raises
    ------
    IncugrowthError
        Missing columns, an unknown control, a cyclic ``controls``, no residual degrees of
        freedom, or nothing at all to compare.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"treatment": ["untreated"] * 3 + ["IFN"] * 3 + ["cGAMP"] * 3,
    ...                   "pct_change": [250.0, 262, 241, 118, 131, 125, 240, 229, 251]})
    >>> res = dunnett(d, by=None)
    >>> res[["treatment", "mean_diff", "t", "df", "p_adj", "ci_low", "ci_high", "stars"]].round(3)
      treatment  mean_diff       t  df  p_adj   ci_low  ci_high stars
    0       IFN   -126.333 -16.180   6  0.000 -148.685 -103.981   ***
    1     cGAMP    -11.000  -1.409   6  0.334  -33.352   11.352    NS
    """
    _check_dunnett_args(alternative, conf_level, pooled)
    factors = [treatment] if by is None else [by, treatment]
    frame, messages = _prepare(data, dv, factors, "dunnett")
    if by is not None:
        frame, flat = _drop_flat_levels(frame, dv, by)
        messages += flat
    table, more = _dunnett_table(
        frame, dv, treatment, by, control, controls, pooled, alternative, conf_level
    )
    _warn_all(messages + more)
    if table.empty:
        raise IncugrowthError(
            f"nothing to compare: no {'group' if by is None else by} has both a control and a "
            f"treatment{' (' + more[0] + ')' if more else ''}"
        )
    return table
