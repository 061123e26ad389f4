"""Assumption checks: normality of the residuals and equality of variances across cells."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from incugrowth.stats._common import _prepare, _warn_all

CHECK_COLUMNS = ["test", "statistic", "p", "note"]

SD_RATIO_LIMIT = 3.0


def assumption_checks(
    data: pd.DataFrame,
    dv: str = "pct_change",
    factors: Sequence[str] = ("cell_line", "treatment"),
) -> pd.DataFrame:
    """Normality of residuals and equality of variances across the cells of the design.

    Shapiro-Wilk on the residuals of the cell-means model (each value minus its cell mean; R
    ``shapiro.test(residuals(lm(y ~ a * b)))``), Brown-Forsythe (Levene's test centred on cell
    medians; R ``car::leveneTest(y ~ cell, center = median)``) across the cells with >= 2 wells,
    and the ratio of the largest to the smallest cell SD. A cell of one well is left out of
    Brown-Forsythe: its deviation from its own median is 0 by construction, not a measure of
    spread (R keeps it, as one more numerator degree of freedom).

    Parameters
    ----------
    data : pandas.DataFrame
        Long table, one row a well.
    dv : str
        Response column.
    factors : sequence of str
        Columns whose combinations are the cells (one or two).

    Returns
    -------
    pandas.DataFrame
        Rows ``"Shapiro-Wilk (residuals)"``, ``"Brown-Forsythe (cells)"``,
        ``"SD ratio (largest/smallest)"``; columns ``test``, ``statistic``, ``p`` (NaN where
        not applicable), ``note``. The note suggests analysing log counts when the SD ratio
        exceeds 3 or Brown-Forsythe P < 0.05.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"treatment": ["untreated"] * 4 + ["IFN"] * 4,
    ...                   "pct_change": [250.0, 262, 241, 255, 118, 119, 121, 120]})
    >>> checks = assumption_checks(d, factors=["treatment"])
    >>> checks[["test", "statistic", "p"]].round(3)
                              test  statistic      p
    0     Shapiro-Wilk (residuals)      0.925  0.473
    1       Brown-Forsythe (cells)      5.418  0.059
    2  SD ratio (largest/smallest)      6.841    NaN
    >>> print(checks.loc[2, "note"])
    largest/smallest cell SD 6.8 > 3: consider analysing log counts, ...
    """
    factors = [factors] if isinstance(factors, str) else list(factors)
    frame, messages = _prepare(data, dv, factors, "assumption_checks")
    _warn_all(messages)
    return _checks(frame, dv, factors)


def _checks(frame: pd.DataFrame, dv: str, factors: list[str]) -> pd.DataFrame:
    keyed = frame.groupby(factors, sort=False, observed=True)[dv]
    resid = (frame[dv] - keyed.transform("mean")).to_numpy()
    groups = [g.to_numpy() for _, g in keyed if len(g) >= 2]
    log_hint = "consider analysing log counts, log(1 + pct_change/100), instead of percent change"
    if dv != "pct_change":  # advice about percent change does not fit another response
        log_hint = f"look for outlier wells and for a transformation of {dv!r} that evens them"
    rows = []

    if len(resid) >= 3 and np.ptp(resid) > 0:
        w, p = sps.shapiro(resid)
        note = (
            "residuals depart from a normal distribution (P < 0.05): look for outlier wells; "
            + log_hint
            if p < 0.05
            else "no evidence against normally distributed residuals"
        )
        rows.append(("Shapiro-Wilk (residuals)", float(w), float(p), note))
    else:
        rows.append(("Shapiro-Wilk (residuals)", np.nan, np.nan, "needs >= 3 varying residuals"))

    spread = [np.abs(g - np.median(g)) for g in groups]
    if len(groups) >= 2 and any(np.ptp(s) > 0 for s in spread):
        f, p = sps.levene(*groups, center="median")
        note = (
            f"cell variances differ (P < 0.05): {log_hint}"
            if p < 0.05
            else "no evidence of unequal variances across cells"
        )
        rows.append(("Brown-Forsythe (cells)", float(f), float(p), note))
    else:
        rows.append(
            ("Brown-Forsythe (cells)", np.nan, np.nan, "needs >= 2 cells with varying wells")
        )

    if len(groups) >= 2:
        sds = np.array([np.std(g, ddof=1) for g in groups])
        ratio = sds.max() / sds.min() if sds.min() > 0 else np.inf
        note = (
            f"largest/smallest cell SD {ratio:.1f} > {SD_RATIO_LIMIT:g}: {log_hint}"
            if ratio > SD_RATIO_LIMIT
            else f"largest/smallest cell SD {ratio:.1f} <= {SD_RATIO_LIMIT:g}"
        )
        rows.append(("SD ratio (largest/smallest)", float(ratio), np.nan, note))
    else:
        rows.append(("SD ratio (largest/smallest)", np.nan, np.nan, "needs >= 2 cells"))
    table = pd.DataFrame(rows, columns=CHECK_COLUMNS)
    table["test"] = table["test"].astype(object)
    table["note"] = table["note"].astype(object)
    return table
