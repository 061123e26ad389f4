"""Ordinary one- and two-way ANOVA with interaction (OLS, Type II or III sums of squares)."""

from __future__ import annotations

from collections.abc import Sequence

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
)

ANOVA_COLUMNS = ["source", "ss", "df", "ms", "f", "p", "partial_eta_sq", "pct_total"]


def _empty_anova(columns=ANOVA_COLUMNS) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object if c == "source" else float) for c in columns})


def _check_two_way(frame: pd.DataFrame, a: str, b: str) -> None:
    for factor in (a, b):
        levels = _levels(frame[factor])
        if len(levels) < 2:
            raise IncugrowthError(
                f"two-way ANOVA needs >= 2 levels of each factor; {factor!r} has only "
                f"{', '.join(map(_fmt, levels))}"
            )
    observed = set(map(tuple, frame[[a, b]].drop_duplicates().to_numpy().tolist()))
    empty = [
        f"{_fmt(x)} x {_fmt(y)}"
        for x in _levels(frame[a])
        for y in _levels(frame[b])
        if (x, y) not in observed
    ]
    if empty:
        raise IncugrowthError(
            f"the {a} x {b} design has empty cells ({', '.join(empty)}): Type II and III sums of "
            f"squares are not defined when a whole combination is missing; analyse the complete "
            f"part of the design, or rely on the Dunnett comparisons (cell-means model), which "
            f"remain valid"
        )


def _anova_frame(sources, ss, df, f, p, ss_resid, df_resid, ss_total, attrs) -> pd.DataFrame:
    ss = np.append(np.asarray(ss, float), ss_resid)
    df = np.append(np.asarray(df, float), df_resid)
    table = pd.DataFrame(
        {
            "source": pd.Series([*sources, "Residual"], dtype=object),
            "ss": ss,
            "df": df,
            "ms": ss / df,
            "f": np.append(np.asarray(f, float), np.nan),
            "p": np.append(np.asarray(p, float), np.nan),
            "partial_eta_sq": np.append(ss[:-1] / (ss[:-1] + ss_resid), np.nan),
            "pct_total": 100.0 * ss / ss_total if ss_total > 0 else np.full(len(ss), np.nan),
        }
    )
    table.attrs.update(attrs | {"ss_total": ss_total})
    return table


def _fit_anova(frame: pd.DataFrame, dv: str, a: str, b: str | None, ss_type: int):
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    model = pd.DataFrame({"y": frame[dv].to_numpy(), "a": frame[a].to_numpy()})
    formula = "y ~ C(a, Sum)"
    names = {"C(a, Sum)": a}
    if b is not None:
        model["b"] = frame[b].to_numpy()
        formula = "y ~ C(a, Sum) * C(b, Sum)"
        names |= {"C(b, Sum)": b, "C(a, Sum):C(b, Sum)": f"{a}:{b}"}
    fit = ols(formula, data=model).fit()
    raw = anova_lm(fit, typ=ss_type)
    y = model["y"].to_numpy()
    ss_total = float(np.sum((y - y.mean()) ** 2))
    terms = [t for t in raw.index if t in names]
    resid = raw.loc["Residual"]
    return _anova_frame(
        [names[t] for t in terms],
        raw.loc[terms, "sum_sq"],
        raw.loc[terms, "df"],
        raw.loc[terms, "F"],
        raw.loc[terms, "PR(>F)"],
        float(resid["sum_sq"]),
        float(resid["df"]),
        ss_total,
        {
            "ss_type": ss_type,
            "dv": dv,
            "ms_resid": float(resid["sum_sq"] / resid["df"]),
            "df_resid": int(round(resid["df"])),
            "n": len(frame),
        },
    )


def two_way_anova(
    data: pd.DataFrame,
    dv: str = "pct_change",
    factors: Sequence[str] = ("cell_line", "treatment"),
    ss_type: int = 3,
) -> pd.DataFrame:
    """Ordinary two-way ANOVA with interaction.

    The model is the OLS fit of ``dv ~ C(a, Sum) * C(b, Sum)`` (statsmodels). Type III sums of
    squares with sum-to-zero contrasts are what Prism reports for unbalanced data and equal
    ``car::Anova(lm(y ~ a * b, contrasts = list(a = contr.sum, b = contr.sum)), type = 3)``
    in R; with balanced data Types II and III agree.

    ``pct_total`` is Prism's "% of total variation": each term's sum of squares as a percentage
    of the total sum of squares of the values about their grand mean (Prism's "Total" row;
    eta squared, the R-squared of Maxwell and Delaney), ``100 * ss / sum((y - mean(y))**2)``.
    With equal numbers of wells per cell the terms and the residual add up to 100 %; with
    unequal numbers (a missing well) the Type III sums of squares do not add up to the total,
    so neither do the percentages, as in Prism.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table, one row a well (e.g. the endpoint table).
    dv : str
        Response column.
    factors : pair of str
        The two factor columns; their levels are treated as categories (numbers too).
    ss_type : {3, 2}
        Type of sums of squares.

    Returns
    -------
    pandas.DataFrame
        One row a term: ``source`` (the factor names, ``"a:b"`` for the interaction and
        ``"Residual"``), ``ss``, ``df``, ``ms``, ``f``, ``p``, ``partial_eta_sq``
        (``ss / (ss + ss_residual)``), ``pct_total`` (percent of the total sum of squares, see
        above). ``attrs`` holds ``ms_resid``, ``df_resid``, ``n``, ``ss_total``, ``ss_type`` and
        ``dv``.

    Warns
    -----
    IncugrowthWarning
        Rows with a missing response, and a level of either factor at which every value is
        the same (left out: percent change at the baseline, 0 in every well, says nothing of
        the treatments and would add residual degrees of freedom without variance).

    Raises
    ------
    IncugrowthError
        A factor with one level, an empty cell (a treatment missing in one cell line), or no
        replicate wells at all (zero residual degrees of freedom).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"cell_line": ["A"] * 4 + ["B"] * 4,
    ...                   "treatment": ["untreated", "untreated", "IFN", "IFN"] * 2,
    ...                   "pct_change": [200.0, 210, 100, 104, 180, 186, 170, 178]})
    >>> two_way_anova(d)[["source", "df", "f", "p"]].round(4)
                    source  df         f       p
    0            cell_line   1   46.2963  0.0024
    1            treatment   1  232.2963  0.0001
    2  cell_line:treatment   1  163.6296  0.0002
    3             Residual   4       NaN     NaN
    """
    a, b = _two_factors(factors)
    if ss_type not in (2, 3):
        raise IncugrowthError(f"`ss_type` must be 2 or 3, got {ss_type!r}")
    frame, messages = _prepare(data, dv, (a, b), "two_way_anova")
    for factor in (a, b):
        frame, flat = _drop_flat_levels(frame, dv, factor)
        messages += flat
    _warn_all(messages)
    return _two_way(frame, dv, a, b, ss_type)


def _two_factors(factors) -> tuple[str, str]:
    if isinstance(factors, str) or len(factors) != 2:
        raise IncugrowthError(f"`factors` must name two columns, got {factors!r}")
    return factors[0], factors[1]


def _two_way(frame: pd.DataFrame, dv: str, a: str, b: str, ss_type: int) -> pd.DataFrame:
    _check_two_way(frame, a, b)
    _residual_df(len(frame), len(frame[[a, b]].drop_duplicates()))
    table = _fit_anova(frame, dv, a, b, ss_type)
    table["df"] = table["df"].round().astype(int)
    return table


def _one_way(frame: pd.DataFrame, dv: str, factor: str) -> pd.DataFrame:
    levels = _levels(frame[factor])
    if len(levels) < 2:
        raise IncugrowthError(f"one-way ANOVA needs >= 2 levels of {factor!r}, got {levels}")
    _residual_df(len(frame), len(levels))
    table = _fit_anova(frame, dv, factor, None, 2)
    table["df"] = table["df"].round().astype(int)
    return table
