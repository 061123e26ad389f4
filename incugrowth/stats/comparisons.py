"""Statistics of a growth-inhibition experiment: two-way ANOVA and Dunnett's comparisons.

The tables match what GraphPad Prism and R (``car::Anova``, ``emmeans``, ``multcomp``) report:

- :func:`two_way_anova`: ordinary two-way ANOVA with interaction, Type III sums of squares with
  sum-to-zero contrasts (Type II on request).
- :func:`dunnett`: each treatment against its control within each level of another factor (each
  cell line, or each time point), with the pooled error of the cell-means model and P values and
  simultaneous confidence intervals from the exact multivariate t distribution.
- :func:`rm_two_way_anova`: repeated-measures (split-plot) two-way ANOVA, wells as subjects, with
  the Greenhouse-Geisser correction.
- :func:`assumption_checks`: normality of residuals and equality of variances.
- :func:`endpoint_statistics`: the call the ``run`` command makes on the endpoint table.

All take a long (tidy) DataFrame and column names, and return DataFrames with documented columns.

Layouts, as in Prism:

- endpoint (the default): ``two_way_anova(endpoint)`` and ``dunnett(endpoint)``, cell line x
  treatment, one family of comparisons per cell line;
- growth curves of one cell line: ``two_way_anova(line, factors=("elapsed_h", "treatment"))`` and
  ``dunnett(line, by="elapsed_h")``, one family per time point, every time (the endpoint among
  them) reported;
- repeated measures (the same wells over time): ``rm_two_way_anova(line)``; the comparisons at
  each time are ``dunnett(line, by="elapsed_h")``, whose pooled error is exactly Prism's
  "MS within cells" of that ANOVA (``attrs["ms_within_cells"]``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special
from scipy import stats as sps

from incugrowth.errors import IncugrowthError, IncugrowthWarning

__all__ = [
    "assumption_checks",
    "dunnett",
    "endpoint_statistics",
    "rm_two_way_anova",
    "stars",
    "two_way_anova",
]

ANOVA_COLUMNS = ["source", "ss", "df", "ms", "f", "p", "partial_eta_sq"]
RM_ANOVA_COLUMNS = ["source", "ss", "df", "ms", "f", "p", "eps_gg", "p_gg", "partial_eta_sq"]
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
CHECK_COLUMNS = ["test", "statistic", "p", "note"]
ALTERNATIVES = ("two-sided", "less", "greater")
SD_RATIO_LIMIT = 3.0
NO_RESIDUAL_DF = (
    "every group has one well: no residual variance to test against; "
    "need >= 2 replicate wells in at least one group"
)


# --------------------------------------------------------------------------------------------
# small helpers


def stars(p):
    """Significance stars: ``***`` P<0.001, ``**`` P<0.01, ``*`` P<0.05, ``NS`` otherwise.

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


def _cells(frame: pd.DataFrame, dv: str, keys: list[str]) -> pd.DataFrame:
    """n, mean and within-cell sum of squares of each combination of ``keys``."""
    grouped = frame.groupby(keys, sort=False, observed=True)[dv]
    mean = grouped.transform("mean")
    resid2 = (frame[dv] - mean) ** 2
    out = grouped.agg(n="size", mean="mean")
    out["ss"] = resid2.groupby([frame[k] for k in keys], sort=False, observed=True).sum()
    return out.reset_index()


def _empty_anova(columns=ANOVA_COLUMNS) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object if c == "source" else float) for c in columns})


# --------------------------------------------------------------------------------------------
# two-way ANOVA


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


def _residual_df(n: int, groups: int) -> int:
    df = n - groups
    if df <= 0:
        raise IncugrowthError(NO_RESIDUAL_DF)
    return df


def _anova_frame(sources, ss, df, f, p, ss_resid, df_resid, attrs) -> pd.DataFrame:
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
        }
    )
    table.attrs.update(attrs)
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
        (``ss / (ss + ss_residual)``). ``attrs`` holds ``ms_resid``, ``df_resid``, ``n``,
        ``ss_type`` and ``dv``.

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


# --------------------------------------------------------------------------------------------
# multivariate t probabilities of Dunnett-type comparisons
#
# Within one family every comparison is a difference of two independent group means, and each
# treatment has exactly one control, so the comparisons form a forest over the groups. Given the
# scale S of the t distribution, a leaf contributes a difference of two normal CDFs, an internal
# node a one-dimensional integral, a root one more: the exact probability is a low-dimensional
# smooth integral, evaluated by quadrature to about 1e-12 (no Monte Carlo noise, so root finding
# for the critical value is exact too). Correlations are those implied by the group sizes.

_GL_NODES = 32
_TAIL = 9.0  # standard deviations beyond which a normal density is negligible (< 1e-18)


def _scale_nodes(df: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[f(S)], S = sqrt(chi2(df)/df): trapezoid rule in log S."""
    nu = float(df)
    lo = -(40.0 / nu + 1.0)
    hi = optimize.brentq(lambda u: 0.5 * nu * np.expm1(2 * u) - nu * u - 40.0, 1e-12, 50.0)
    step = 1.0 / (3.0 * np.sqrt(2.0 * nu))  # a third of the SD of log S
    u = np.arange(lo, hi + step, step)
    log_density = (
        np.log(2.0)
        + 0.5 * nu * np.log(0.5 * nu)
        + nu * u
        - 0.5 * nu * np.exp(2.0 * u)
        - special.gammaln(0.5 * nu)
    )
    weight = np.exp(log_density) * step
    keep = weight > 1e-15 * weight.max()
    return np.exp(u[keep]), weight[keep]


def _forest_prob(variances, edges, lower, upper, df) -> float:
    """P(lower_i <= (Z_child_i - Z_parent_i) / S <= upper_i for all i).

    ``Z_g ~ N(0, variances[g])`` independent, ``S = sqrt(chi2(df)/df)`` independent of them,
    ``edges[i] = (child, parent)`` forming a forest (checked by the caller).
    """
    children: dict = {}
    for i, (child, parent) in enumerate(edges):
        children.setdefault(parent, []).append((child, i))
    is_child = {child for child, _ in edges}
    scale, weight = _scale_nodes(df)

    def message(node, i, zp):
        """P(node's subtree satisfied | parent value zp), array over (scale, grid...)."""
        sd = np.sqrt(variances[node])
        s = scale.reshape((-1,) + (1,) * (zp.ndim - 1))
        a, b = zp + lower[i] * s, zp + upper[i] * s
        if node not in children:
            return special.ndtr(b / sd) - special.ndtr(a / sd)
        lo, hi = np.maximum(a, -_TAIL * sd), np.minimum(b, _TAIL * sd)
        half = np.where(hi > lo, 0.5 * (hi - lo), 0.0)
        finest = min(np.sqrt(variances[c]) for c, _ in children[node]) / sd
        x, w = np.polynomial.legendre.leggauss(int(np.ceil(_GL_NODES / min(1.0, finest))))
        z = (0.5 * (hi + lo))[..., None] + half[..., None] * x
        f = np.exp(-0.5 * (z / sd) ** 2) / (sd * np.sqrt(2.0 * np.pi))
        for child, j in children[node]:
            f = f * message(child, j, z)
        return half * (f @ w)

    total = np.ones_like(scale)
    for root in (node for node in children if node not in is_child):
        sd = np.sqrt(variances[root])
        finest = min(np.sqrt(variances[c]) for c, _ in children[root]) / sd
        step = 0.2 * min(1.0, finest)
        x = np.arange(-_TAIL, _TAIL + step / 2, step)
        z = np.broadcast_to(sd * x, (len(scale), len(x)))
        f = np.ones(z.shape)
        for child, i in children[root]:
            f = f * message(child, i, z)
        total = total * (f @ (np.exp(-0.5 * x**2) / np.sqrt(2.0 * np.pi) * step))
    return float(np.clip(total @ weight, 0.0, 1.0))


def _family_inference(variances, edges, t, df, alternative, conf_level):
    """Adjusted P values and the critical value of one family of comparisons.

    P values are ``1 - P(all |T_j| <= |t_i|)`` (two-sided; one-sided analogues), the critical
    value ``c`` solves ``P(all |T_j| <= c) = conf_level``.
    """
    t = np.asarray(t, float)
    k = len(edges)
    se = np.array([np.sqrt(variances[c] + variances[p]) for c, p in edges])

    if alternative == "two-sided":
        raw = 2.0 * sps.t.sf(np.abs(t), df)
    elif alternative == "greater":
        raw = sps.t.sf(t, df)
    else:
        raw = sps.t.cdf(t, df)

    def box(q):
        """P(all comparisons within their acceptance region at threshold q)."""
        if alternative == "two-sided":
            q = abs(q)
            lo, hi = -q * se, q * se
        elif alternative == "greater":
            lo, hi = np.full(k, -np.inf), q * se
        else:
            lo, hi = q * se, np.full(k, np.inf)
        if k == 1:
            return float(sps.t.cdf(hi[0] / se[0], df) - sps.t.cdf(lo[0] / se[0], df))
        return _forest_prob(variances, edges, lo, hi, df)

    if k == 1:
        p_adj = raw.copy()
    else:
        p_adj = np.array([1.0 - box(q) for q in t])
        # Exact bounds of a union of events; they only bite where quadrature rounding would
        p_adj = np.clip(p_adj, raw, np.minimum(1.0, k * raw))

    alpha = 1.0 - conf_level
    sides = 2.0 if alternative == "two-sided" else 1.0
    low = sps.t.ppf(1.0 - alpha / sides, df)
    if k == 1:
        return p_adj, float(low)
    high = sps.t.ppf(1.0 - alpha / (sides * k), df)  # Bonferroni: never below the answer
    sign = -1.0 if alternative == "less" else 1.0
    crit = optimize.brentq(
        lambda q: box(sign * q) - conf_level, low * (1 - 1e-9), high * (1 + 1e-9), xtol=1e-11
    )
    return p_adj, float(crit)


# --------------------------------------------------------------------------------------------
# Dunnett's comparisons


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
        missing response, single-well groups in unpooled mode.

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


# --------------------------------------------------------------------------------------------
# repeated measures


def _subject_matrix(frame, dv, within, between, subject):
    """Subjects x within-levels matrix of complete subjects, their groups, and messages."""
    messages = []
    groups_per_subject = frame.groupby(subject, sort=False)[between].nunique()
    mixed = groups_per_subject[groups_per_subject > 1]
    if len(mixed):
        raise IncugrowthError(
            f"{subject} {_fmt(mixed.index[0])} appears under more than one {between}: a "
            f"{subject} must keep one {between} over {within}"
        )
    dup = frame.duplicated([subject, within], keep=False)
    if dup.any():
        first = frame.loc[dup].iloc[0]
        raise IncugrowthError(
            f"{subject} {_fmt(first[subject])} has more than one row at {within} "
            f"{_fmt(first[within])}: average fields per {subject} first"
        )
    wide = frame.pivot(index=subject, columns=within, values=dv)
    wide = wide[_levels(frame[within])]
    incomplete = wide.index[wide.isna().any(axis=1)]
    if len(incomplete):
        messages.append(
            f"left out {subject}(s) {', '.join(map(_fmt, incomplete))}: not measured at every "
            f"{within} (repeated-measures ANOVA needs complete {subject}s)"
        )
        wide = wide.drop(index=incomplete)
    group = frame.drop_duplicates(subject).set_index(subject)[between].reindex(wide.index)
    return wide, group, messages


def rm_two_way_anova(
    data: pd.DataFrame,
    dv: str = "pct_change",
    within: str = "elapsed_h",
    between: str = "treatment",
    subject: str = "well",
    *,
    ss_type: int = 3,
) -> pd.DataFrame:
    """Repeated-measures two-way ANOVA: wells followed over time, treatment between wells.

    The split-plot ANOVA of R ``afex::aov_car(dv ~ between * within + Error(subject/within))``
    (and of Prism's repeated-measures two-way ANOVA): the between-wells effect is tested
    against the variation between wells of the same treatment, the within-wells effects against
    the residual. Type III sums of squares (sum-to-zero contrasts) are the default; with equal
    numbers of wells per treatment Types II and III agree. The Greenhouse-Geisser epsilon is
    estimated from the residual covariance of the within-wells contrasts (as ``car::Anova``)
    and applied to both terms involving ``within``.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table, one row a well x time (the growth table of one cell line).
    dv, within, between, subject : str
        Response, within-subject factor, between-subject factor and subject columns.
    ss_type : {3, 2}
        Type of sums of squares (they differ only with unequal wells per treatment).

    Returns
    -------
    pandas.DataFrame
        Rows ``between``, ``subject`` (error of the between term), ``within``,
        ``"between:within"`` and ``"Residual"``; columns ``source``, ``ss``, ``df``, ``ms``,
        ``f``, ``p``, ``eps_gg`` (Greenhouse-Geisser epsilon, terms with ``within``), ``p_gg``
        (corrected P; equal to ``p`` for the between term), ``partial_eta_sq``. ``attrs`` hold
        ``ms_within_cells`` and ``df_within_cells``, the error that :func:`dunnett` with
        ``by=within`` uses at each time point, ``eps_gg``, ``n_subjects``.

    Warns
    -----
    IncugrowthWarning
        Wells not measured at every time are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"well": ["A1", "A2", "B1", "B2"] * 3,
    ...                   "treatment": ["ctrl", "ctrl", "IFN", "IFN"] * 3,
    ...                   "elapsed_h": [24.0] * 4 + [48.0] * 4 + [72.0] * 4,
    ...                   "pct_change": [50.0, 55, 30, 28, 120, 131, 60, 58, 250, 262, 90, 99]})
    >>> rm_two_way_anova(d)[["source", "df", "f", "eps_gg", "p_gg"]].round(4)
                    source  df          f  eps_gg    p_gg
    0            treatment   1   312.7429     NaN  0.0032
    1                 well   2        NaN     NaN     NaN
    2            elapsed_h   2  1347.8780  0.6604  0.0001
    3  treatment:elapsed_h   2   364.8537  0.6604  0.0006
    4             Residual   4        NaN     NaN     NaN
    """
    if ss_type not in (2, 3):
        raise IncugrowthError(f"`ss_type` must be 2 or 3, got {ss_type!r}")
    frame, messages = _prepare(data, dv, (subject, between, within), "rm_two_way_anova")
    wide, group, more = _subject_matrix(frame, dv, within, between, subject)
    _warn_all(messages + more)
    return _rm_anova(wide, group, dv, within, between, subject, ss_type)


def _rm_anova(wide, group, dv, within, between, subject, ss_type):
    y = wide.to_numpy(float)
    n_s, n_t = y.shape
    levels = [g for g in _levels(group) if (group == g).any()]
    if n_t < 2 or len(levels) < 2:
        raise IncugrowthError(
            f"repeated-measures ANOVA needs >= 2 levels of {within!r} and of {between!r} with "
            f"complete {subject}s; got {n_t} and {len(levels)}"
        )
    codes = np.array([levels.index(g) for g in group])
    n_g = np.bincount(codes, minlength=len(levels)).astype(float)
    df_subj = n_s - len(levels)
    if df_subj <= 0:
        raise IncugrowthError(
            f"every {between} has one {subject}: no between-{subject} variance to test against; "
            f"need >= 2 {subject}s in at least one {between}"
        )
    # between wells: the one-way ANOVA of well means (weighted by the number of times)
    m = y.mean(axis=1)
    m_g = np.bincount(codes, weights=m) / n_g
    ss_between = n_t * float(np.sum(n_g * (m_g - m.mean()) ** 2))
    ss_subject = n_t * float(np.sum((m - m_g[codes]) ** 2))
    # within wells: multivariate form on orthonormal contrasts of the time points
    contrasts = np.linalg.qr(np.column_stack([np.ones(n_t), np.eye(n_t)[:, :-1]]))[0][:, 1:]
    z = y @ contrasts
    z_g = np.stack([z[codes == g].mean(axis=0) for g in range(len(levels))])
    resid = z - z_g[codes]
    error = resid.T @ resid
    z_w = (n_g @ z_g) / n_s
    hyp_inter = (z_g - z_w).T @ ((z_g - z_w) * n_g[:, None])
    if ss_type == 3:  # unweighted mean of the group profiles
        z_u = z_g.mean(axis=0)
        ss_within = float(z_u @ z_u) / (np.sum(1.0 / n_g) / len(levels) ** 2)
    else:
        ss_within = n_s * float(z_w @ z_w)
    ss_inter, ss_resid = float(np.trace(hyp_inter)), float(np.trace(error))
    q = n_t - 1
    df_b, df_w, df_i, df_r = len(levels) - 1, q, q * (len(levels) - 1), q * df_subj
    eps = float(np.trace(error) ** 2 / (q * np.trace(error @ error))) if ss_resid > 0 else 1.0

    f_b = (ss_between / df_b) / (ss_subject / df_subj)
    f_w = (ss_within / df_w) / (ss_resid / df_r)
    f_i = (ss_inter / df_i) / (ss_resid / df_r)
    table = pd.DataFrame(
        {
            "source": pd.Series(
                [between, subject, within, f"{between}:{within}", "Residual"], dtype=object
            ),
            "ss": [ss_between, ss_subject, ss_within, ss_inter, ss_resid],
            "df": [df_b, df_subj, df_w, df_i, df_r],
        }
    )
    table["ms"] = table["ss"] / table["df"]
    table["f"] = [f_b, np.nan, f_w, f_i, np.nan]
    p_b = sps.f.sf(f_b, df_b, df_subj)
    p = [p_b, np.nan, sps.f.sf(f_w, df_w, df_r), sps.f.sf(f_i, df_i, df_r), np.nan]
    table["p"] = p
    table["eps_gg"] = [np.nan, np.nan, eps, eps, np.nan]
    table["p_gg"] = [
        p_b,
        np.nan,
        sps.f.sf(f_w, df_w * eps, df_r * eps),
        sps.f.sf(f_i, df_i * eps, df_r * eps),
        np.nan,
    ]
    table["partial_eta_sq"] = [
        ss_between / (ss_between + ss_subject),
        np.nan,
        ss_within / (ss_within + ss_resid),
        ss_inter / (ss_inter + ss_resid),
        np.nan,
    ]
    table.attrs.update(
        {
            "ss_type": ss_type,
            "dv": dv,
            "eps_gg": eps,
            "n_subjects": n_s,
            "ms_within_cells": (ss_subject + ss_resid) / (df_subj + df_r),
            "df_within_cells": df_subj + df_r,
        }
    )
    return table


# --------------------------------------------------------------------------------------------
# assumptions


def assumption_checks(
    data: pd.DataFrame,
    dv: str = "pct_change",
    factors: Sequence[str] = ("cell_line", "treatment"),
) -> pd.DataFrame:
    """Normality of residuals and equality of variances across the cells of the design.

    Shapiro-Wilk on the residuals of the cell-means model (each value minus its cell mean),
    Brown-Forsythe (Levene's test centred on cell medians) across the cells with >= 2 wells,
    and the ratio of the largest to the smallest cell SD.

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


# --------------------------------------------------------------------------------------------
# the endpoint analysis of the run command


def endpoint_statistics(
    endpoint: pd.DataFrame,
    *,
    dv: str = "pct_change",
    control: str = "untreated",
    controls: Mapping[str, str] | None = None,
    by: str = "cell_line",
    treatment: str = "treatment",
) -> dict:
    """Two-way ANOVA, Dunnett's comparisons and assumption checks of the endpoint table.

    The analysis of Zaretsky et al. (2016), Fig. 4: ``by x treatment`` two-way ANOVA with
    interaction (Type III), then within each ``by`` level each treatment against ``control``
    (or its own control from ``controls``), pooled error of the cell-means model. What cannot
    be computed for one cell line (no control wells, a missing combination) is reported in
    ``messages`` while the rest is computed; with a single ``by`` level the ANOVA is one-way.
    Warnings of the parts are collected into ``messages``, not emitted.

    Parameters
    ----------
    endpoint : pandas.DataFrame
        The endpoint table (one row a well).
    dv, control, controls, by, treatment
        As in :func:`dunnett`.

    Returns
    -------
    dict
        ``{"anova": DataFrame, "dunnett": DataFrame, "checks": DataFrame, "messages": [str]}``;
        a table that could not be computed is empty (with its columns).

    Raises
    ------
    IncugrowthError
        Mistakes in the call (missing columns, a control that no well has, a cyclic
        ``controls``), or nothing at all can be computed (e.g. no replicate wells).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"cell_line": ["A"] * 6 + ["B"] * 3,
    ...                   "treatment": ["untreated"] * 3 + ["IFN"] * 3 + ["IFN"] * 3,
    ...                   "pct_change": [250.0, 262, 241, 118, 131, 125, 240, 229, 251]})
    >>> out = endpoint_statistics(d)
    >>> out["dunnett"][["cell_line", "treatment", "stars"]]
      cell_line treatment stars
    0         A       IFN   ***
    >>> print(out["messages"][-1])
    cell_line 'B' skipped: no 'untreated' wells to compare 'IFN' with
    >>> out["anova"].empty  # 'B' x 'untreated' is an empty cell of the two-way design
    True
    """
    frame, messages = _prepare(endpoint, dv, (by, treatment), "endpoint_statistics")
    anova = _empty_anova()
    problems = []
    try:
        if frame[by].nunique() == 1:
            anova = _one_way(frame, dv, treatment)
            messages.append(f"one {by} only: one-way ANOVA over {treatment}")
        else:
            anova = _two_way(frame, dv, by, treatment, 3)
    except IncugrowthError as exc:
        problems.append(str(exc))
        messages.append(f"ANOVA not computed: {exc}")

    # a misnamed control or a cyclic `controls` is a mistake in the call, not in one cell line
    table, more = _dunnett_table(
        frame, dv, treatment, by, control, controls, True, "two-sided", 0.95
    )
    messages.extend(more)
    if table.empty:
        problems.append(f"no {by} has both {control!r} and a treatment")
    if anova.empty and table.empty:
        raise IncugrowthError(f"no statistics can be computed: {problems[-1] if problems else ''}")
    checks = _checks(frame, dv, [by, treatment])
    return {"anova": anova, "dunnett": table, "checks": checks, "messages": messages}
