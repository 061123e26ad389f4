"""Shared by the statistics modules: checking the input table, level order and labels, stars."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthError, IncugrowthWarning

NO_RESIDUAL_DF = (
    "every group has one well: no residual variance to test against; "
    "need >= 2 replicate wells in at least one group"
)


def stars(p):
    """Significance stars: ``***`` P<0.001, ``**`` P<0.01, ``*`` P<0.05, ``NS`` otherwise.

    Prism's summary in its NEJM and APA P value styles (the style of Zaretsky et al.); a P of
    exactly 0.05 is ``NS`` and of exactly 0.001 is ``**``, as in Prism. Prism's default
    (GraphPad) style differs: it adds ``****`` for P<0.0001.

    Parameters
    ----------
    p : float or array-like
        P value(s). NaN gives an empty string.

    Returns
    -------
    str, numpy.ndarray or pandas.Series
        Same shape as ``p`` (a Series keeps its index).

    Examples
    --------
    >>> stars(0.0004)
    '***'
    >>> stars([0.001, 0.0099, 0.049, 0.05, float("nan")]).tolist()
    ['**', '**', '*', 'NS', '']
    """
    values = np.asarray(p, dtype=float)
    out = np.select(
        [np.isnan(values), values < 0.001, values < 0.01, values < 0.05],
        ["", "***", "**", "*"],
        default="NS",
    ).astype(object)
    if values.ndim == 0:
        return str(out[()])
    if isinstance(p, pd.Series):
        return pd.Series(out, index=p.index, name=p.name, dtype=object)
    return out


def _warn_all(messages: list[str]) -> None:
    for message in messages:
        warnings.warn(message, IncugrowthWarning, stacklevel=3)


def _fmt(value) -> str:
    """A level as users wrote it: 'M420', 72 (not 72.0)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return repr(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _levels(values: pd.Series) -> list:
    """Levels in the order users expect: categories, sorted numbers, else first appearance."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().unique())
        return [c for c in values.cat.categories if c in present]
    unique = pd.unique(values.dropna())
    if pd.api.types.is_numeric_dtype(values):
        return sorted(unique.tolist())
    return list(unique)


def _prepare(data, dv: str, factors: Sequence[str], caller: str) -> tuple[pd.DataFrame, list]:
    """Columns ``factors + [dv]`` with incomplete rows left out (and said so)."""
    if not isinstance(data, pd.DataFrame):
        raise IncugrowthError(f"`data` must be a pandas DataFrame, got {type(data).__name__}")
    factors = list(factors)
    if len(set(factors)) != len(factors) or dv in factors:
        raise IncugrowthError(
            f"{caller}: the response {dv!r} and the factors {factors} must be distinct columns"
        )
    missing = [c for c in [*factors, dv] if c not in data.columns]
    if missing:
        raise IncugrowthError(
            f"{caller}: `data` has no column {', '.join(map(repr, missing))}; "
            f"got columns {list(map(str, data.columns))}"
        )
    y = data[dv]
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        try:
            y = pd.to_numeric(y)
        except (TypeError, ValueError):
            raise IncugrowthError(
                f"{caller}: column {dv!r} must hold numbers, got values such as "
                f"{y.dropna().astype(str).iloc[0]!r}"
            ) from None
    y = y.astype(float)
    frame = pd.DataFrame({f: data[f] for f in factors}, index=data.index)
    frame[dv] = y.to_numpy()
    bad = ~np.isfinite(frame[dv].to_numpy()) | frame[factors].isna().any(axis=1).to_numpy()
    messages = []
    if bad.any():
        where = ""
        if "well" in data.columns:
            wells = pd.unique(data.loc[bad, "well"].astype(str))
            where = f" (wells {', '.join(wells[:8])}{', ...' if len(wells) > 8 else ''})"
        messages.append(
            f"left out {int(bad.sum())} row(s) with a missing or infinite {dv!r} "
            f"or a missing {'/'.join(factors)}{where}"
        )
        frame = frame.loc[~bad]
    if frame.empty:
        raise IncugrowthError(f"{caller}: no rows with a finite {dv!r} to analyse")
    return frame, messages


def _drop_flat_levels(frame: pd.DataFrame, dv: str, factor: str) -> tuple[pd.DataFrame, list]:
    """Leave out the time points (levels of ``factor`` when it is ``elapsed_h``) at which
    every value of ``dv`` is the same.

    Percent change at the baseline is 0 in every well by construction: such a time point says
    nothing about the treatments, and its wells would add residual degrees of freedom without
    any variance, shrinking the pooled error and making every test too liberal. Levels of
    other factors are data, kept whatever their values (a treatment that kills every cell is
    -100 % in every well).
    """
    if factor != "elapsed_h":
        return frame, []
    values = frame.groupby(factor, sort=False, observed=True)[dv]
    spread = values.agg(["min", "max", "size"])
    flat = spread[(spread["min"] == spread["max"]) & (spread["size"] >= 2)]
    if flat.empty or len(flat) == len(spread):
        return frame, []
    levels = ", ".join(f"{_fmt(level)} (all {row['min']:g})" for level, row in flat.iterrows())
    message = (
        f"left out {factor} {levels}: every row has the same {dv!r}, as at the baseline; a "
        f"level without variance would shrink the pooled error and make the tests too liberal"
    )
    return frame[~frame[factor].isin(flat.index)], [message]


def _residual_df(n: int, groups: int) -> int:
    df = n - groups
    if df <= 0:
        raise IncugrowthError(NO_RESIDUAL_DF)
    return df
