"""Plates as blocks: two-way ANOVA and Dunnett's comparisons of plate x condition means.

Repeated experiments (the same plate run on different days) are combined with the plate as
the unit of replication: the wells of each plate x condition are averaged first, and the means
are analysed with the plate as a block, ``y ~ plate + cell_line * treatment``. This is R's
``lm(y ~ plate + cell_line * treatment)`` with ``car::Anova(type = 3)`` on sum-to-zero
contrasts, and ``emmeans(m, ~ treatment | cell_line)`` with ``contrast("trt.vs.ctrl")`` and
``adjust = "mvt"``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthError
from incugrowth.stats._common import _fmt, _levels, _prepare, _residual_df, _warn_all, stars
from incugrowth.stats.anova import _anova_frame, _check_two_way
from incugrowth.stats.comparisons import (
    DUNNETT_COLUMNS,
    _check_dunnett_args,
    _control_map,
)
from incugrowth.stats.mvt import _contrast_inference, _treatment_contrasts

__all__ = ["AGREEMENT_COLUMNS", "block_anova", "block_dunnett", "plate_agreement"]

AGREEMENT_COLUMNS = ["cell_line", "source", "ss", "df", "ms", "f", "p"]


def _sum_coded(values: pd.Series, levels: list) -> np.ndarray:
    """Sum-to-zero (deviation) coding of a factor: k - 1 columns, the last level -1."""
    out = np.zeros((len(values), max(len(levels) - 1, 0)))
    codes = pd.Categorical(values, categories=levels).codes
    for j in range(len(levels) - 1):
        out[codes == j, j] = 1.0
    out[codes == len(levels) - 1, :] = -1.0
    return out


def block_anova(
    data: pd.DataFrame,
    dv: str = "pct_change",
    block: str = "plate",
    factors=("cell_line", "treatment"),
    ss_type: int = 3,
) -> pd.DataFrame:
    """Two-way ANOVA with interaction and a block: ``dv ~ block + a * b``.

    Type III sums of squares with sum-to-zero contrasts, as
    ``car::Anova(lm(dv ~ block + a * b), type = 3)`` with ``contr.sum``; with a condition
    missing on one plate (an incomplete block) Types II and III still differ from the
    sequential sums of squares, so the type matters as in the one-plate analysis.

    Parameters
    ----------
    data : pandas.DataFrame
        One row a block x condition (the plate means), or any long table.
    dv : str
        Response column.
    block : str
        The block column (the plate).
    factors : pair of str
        The two crossed factors.
    ss_type : {3, 2}
        Type of sums of squares.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`~incugrowth.stats.two_way_anova`; sources ``block``, ``a``,
        ``b``, ``"a:b"`` and ``"Residual"``. ``attrs`` holds ``ms_resid``, ``df_resid``, ``n``.

    Raises
    ------
    IncugrowthError
        Fewer than two blocks, a factor with one level, an empty cell of the ``a x b``
        design (a condition on no plate), or no residual degrees of freedom.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"plate": [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3],
    ...                   "cell_line": ["A", "A", "B", "B"] * 3,
    ...                   "treatment": ["untreated", "IFN"] * 6,
    ...                   "pct_change": [200.0, 100, 180, 170, 230, 118, 205, 196,
    ...                                  190, 97, 170, 168]})
    >>> block_anova(d)[["source", "df", "f"]].round(2)
                    source  df       f
    0                plate   2   57.34
    1            cell_line   1  105.40
    2            treatment   1  472.34
    3  cell_line:treatment   1  358.47
    4             Residual   6     NaN
    """
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    a, b = factors
    if ss_type not in (2, 3):
        raise IncugrowthError(f"`ss_type` must be 2 or 3, got {ss_type!r}")
    frame, messages = _prepare(data, dv, (block, a, b), "block_anova")
    _warn_all(messages)
    if frame[block].nunique() < 2:
        raise IncugrowthError(f"block_anova needs >= 2 levels of {block!r} (plates)")
    _check_two_way(frame, a, b)
    model = pd.DataFrame(
        {
            "y": frame[dv].to_numpy(),
            "k": frame[block].astype(str).to_numpy(),
            "a": frame[a].to_numpy(),
            "b": frame[b].to_numpy(),
        }
    )
    groups = len(frame[[a, b]].drop_duplicates()) + frame[block].nunique() - 1
    _residual_df(len(frame), groups)
    fit = ols("y ~ C(k, Sum) + C(a, Sum) * C(b, Sum)", data=model).fit()
    raw = anova_lm(fit, typ=ss_type)
    names = {"C(k, Sum)": block, "C(a, Sum)": a, "C(b, Sum)": b, "C(a, Sum):C(b, Sum)": f"{a}:{b}"}
    terms = [t for t in raw.index if t in names]
    resid = raw.loc["Residual"]
    y = model["y"].to_numpy()
    table = _anova_frame(
        [names[t] for t in terms],
        raw.loc[terms, "sum_sq"],
        raw.loc[terms, "df"],
        raw.loc[terms, "F"],
        raw.loc[terms, "PR(>F)"],
        float(resid["sum_sq"]),
        float(resid["df"]),
        float(np.sum((y - y.mean()) ** 2)),
        {
            "ss_type": ss_type,
            "dv": dv,
            "ms_resid": float(resid["sum_sq"] / resid["df"]),
            "df_resid": int(round(resid["df"])),
            "n": len(frame),
            "model": f"{dv} ~ {block} + {a} * {b}",
        },
    )
    table["df"] = table["df"].round().astype(int)
    return table


def _block_fit(frame: pd.DataFrame, dv: str, block: str, cond: pd.Series):
    """OLS of ``dv ~ 0 + condition + block`` (block sum-coded): condition estimates (the
    estimated marginal means, averaged over blocks with equal weights), their covariance
    divided by the residual variance, the residual mean square and df."""
    conditions = list(dict.fromkeys(cond))
    blocks = _levels(frame[block])
    position = {c: i for i, c in enumerate(conditions)}
    x_cond = np.zeros((len(cond), len(conditions)))
    x_cond[np.arange(len(cond)), [position[c] for c in cond]] = 1.0
    x = np.hstack([x_cond, _sum_coded(frame[block], blocks)])
    y = frame[dv].to_numpy(float)
    rank = np.linalg.matrix_rank(x)
    if rank < x.shape[1]:
        raise IncugrowthError(
            f"the {block}s and the conditions are confounded (no condition is shared between "
            f"some {block}s): the {block} effect cannot be separated from the treatments"
        )
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ x.T @ y
    df = _residual_df(len(y), rank)
    ms = float(np.sum((y - x @ beta) ** 2) / df)
    k = len(conditions)
    return conditions, beta[:k], xtx_inv[:k, :k], ms, df


def block_dunnett(
    data: pd.DataFrame,
    dv: str = "pct_change",
    block: str = "plate",
    treatment: str = "treatment",
    by: str = "cell_line",
    control: str = "untreated",
    controls: Mapping[str, str] | None = None,
    alternative: str = "two-sided",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Dunnett's comparisons with each treatment's control, within each ``by``, blocked.

    The model is ``dv ~ block + by * treatment`` (fitted as its equivalent cell-means form
    ``dv ~ 0 + condition + block``); each comparison is the difference of the estimated
    marginal means of the treatment and its control (the plate effects cancel), its standard
    error from the model's residual mean square and degrees of freedom. One family per level
    of ``by``; adjusted P values and simultaneous confidence intervals are single-step, from
    the multivariate t with the correlations of the family. With every condition on every
    plate the family has the structure of independent groups and the quadrature of
    :func:`~incugrowth.stats.dunnett` is exact; otherwise (a condition missing on a plate) the
    probabilities are the quasi-Monte Carlo integral of mvtnorm (fixed seed, error ~1e-6).

    This is R's ``emmeans(lm(dv ~ block + by * treatment), ~ treatment | by)`` with
    ``contrast(..., "trt.vs.ctrl")`` and ``adjust = "mvt"``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row a block x condition (the plate means).
    dv, treatment, by, control, controls, alternative, conf_level
        As in :func:`~incugrowth.stats.dunnett`.
    block : str
        The block column (the plate).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`~incugrowth.stats.dunnett`; ``n_treatment`` and ``n_control``
        count blocks (plates), ``mean_treatment`` and ``mean_control`` are the estimated
        marginal means. ``attrs`` holds ``ms_resid`` and ``df_resid``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"plate": [1, 1, 2, 2, 3, 3],
    ...                   "treatment": ["untreated", "IFN"] * 3,
    ...                   "cell_line": "A",
    ...                   "pct_change": [200.0, 100, 230, 118, 190, 97]})
    >>> res = block_dunnett(d)
    >>> res[["treatment", "mean_diff", "df", "n_treatment", "stars"]]
      treatment   mean_diff  df  n_treatment stars
    0       IFN -101.666667   2            3    **
    """
    _check_dunnett_args(alternative, conf_level, True)
    frame, messages = _prepare(data, dv, (block, by, treatment), "block_dunnett")
    cond = pd.Series(list(zip(frame[by], frame[treatment])), index=frame.index)
    conditions, est, cov, ms, df = _block_fit(frame, dv, block, cond)
    if ms == 0:
        raise IncugrowthError(f"{dv!r} has no residual variation: a test is not possible")
    index = {c: i for i, c in enumerate(conditions)}
    plates = frame.groupby([by, treatment], sort=False, observed=True)[block].nunique()
    parent = _control_map(control, controls, _levels(frame[treatment]))
    rows = []
    for level in _levels(frame[by]):
        present = [t for t in _levels(frame[treatment]) if (level, t) in index]
        edges = [(t, parent[t]) for t in present if t in parent and parent[t] in present]
        lost = [t for t in present if t in parent and parent[t] not in present]
        if lost:
            messages.append(
                f"{by} {_fmt(level)}: no {', '.join(sorted({repr(parent[t]) for t in lost}))} "
                f"to compare {', '.join(map(repr, lost))} with (skipped)"
            )
        if not edges:
            continue
        groups, group_cov, diff, var = _treatment_contrasts(est, cov, index, level, edges)
        se = np.sqrt(ms * var)
        t_stat = diff / se
        p_adj, crit = _contrast_inference(
            group_cov, groups, edges, t_stat, df, alternative, conf_level
        )
        for i, (t, c) in enumerate(edges):
            rows.append(
                {
                    by: level,
                    "treatment": t,
                    "control": c,
                    "mean_diff": diff[i],
                    "se": se[i],
                    "t": t_stat[i],
                    "df": df,
                    "p_adj": p_adj[i],
                    "ci_low": diff[i] - crit * se[i] if alternative != "less" else -np.inf,
                    "ci_high": diff[i] + crit * se[i] if alternative != "greater" else np.inf,
                    "stars": stars(p_adj[i]),
                    "n_treatment": int(plates[(level, t)]),
                    "n_control": int(plates[(level, c)]),
                    "mean_treatment": est[index[(level, t)]],
                    "mean_control": est[index[(level, c)]],
                }
            )
    _warn_all(messages)
    if not rows:
        raise IncugrowthError(f"nothing to compare: no {by} has both {control!r} and a treatment")
    table = pd.DataFrame(rows, columns=[by, *DUNNETT_COLUMNS])
    table.attrs.update(
        {
            "ms_resid": ms,
            "df_resid": df,
            "alternative": alternative,
            "conf_level": conf_level,
            "dv": dv,
            "model": f"{dv} ~ {block} + {by} * {treatment}",
        }
    )
    return table


def plate_agreement(
    wells: pd.DataFrame,
    dv: str = "pct_change",
    block: str = "plate",
    treatment: str = "treatment",
    by: str = "cell_line",
) -> pd.DataFrame:
    """Do the plates agree? The plate x treatment interaction, tested on the wells.

    Within each level of ``by`` (and over all of them, ``by`` = ``"all"``, where the
    condition is ``by`` x ``treatment``), the F test of the additive model
    ``dv ~ plate + treatment`` against the full ``dv ~ plate * treatment``, whose residual is
    the variation between wells of one plate and condition. A small P says the treatment
    effects differ between plates by more than the wells of one plate vary: the combined
    estimate then averages effects that are not the same on every plate. Plate x condition
    cells missing on some plate are allowed (the models are compared by their residuals).

    Returns
    -------
    pandas.DataFrame
        One row a ``by`` level, then ``"all"``: ``cell_line``, ``source``
        (``"plate:treatment"``), ``ss``, ``df``, ``ms``, ``f``, ``p``; levels with no
        degrees of freedom for the interaction or the error are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"plate": [1] * 4 + [2] * 4, "cell_line": "A",
    ...                   "treatment": ["untreated", "untreated", "IFN", "IFN"] * 2,
    ...                   "pct_change": [200.0, 204, 100, 104, 230, 226, 130, 126]})
    >>> plate_agreement(d)[["cell_line", "df", "f"]]
      cell_line  df    f
    0         A   1  0.0
    1       all   1  0.0
    """
    frame, messages = _prepare(wells, dv, (block, by, treatment), "plate_agreement")
    _warn_all(messages)
    rows = []
    parts = [(level, frame[frame[by] == level]) for level in _levels(frame[by])]
    parts.append(("all", frame))
    for level, sub in parts:
        cond = sub[by].astype(str) + "\x00" + sub[treatment].astype(str)
        row = _interaction_test(sub[dv].to_numpy(float), sub[block].to_numpy(), cond.to_numpy())
        if row is not None:
            rows.append({by: level, "source": f"{block}:{treatment}", **row})
    return pd.DataFrame(rows, columns=[by, *AGREEMENT_COLUMNS[1:]])


def _rss(y: np.ndarray, x: np.ndarray) -> tuple[float, int]:
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    return float(np.sum((y - x @ beta) ** 2)), int(np.linalg.matrix_rank(x))


def _dummies(values) -> np.ndarray:
    return pd.get_dummies(pd.Series(values).astype(str)).to_numpy(float)


def _interaction_test(y, plate, cond) -> dict | None:
    additive = np.hstack([_dummies(cond), _dummies(plate)])
    cells = _dummies([f"{p}\x01{c}" for p, c in zip(plate, cond)])
    rss_add, rank_add = _rss(y, additive)
    rss_full, rank_full = _rss(y, cells)
    df_int, df_err = rank_full - rank_add, len(y) - rank_full
    if df_int <= 0 or df_err <= 0 or rss_full <= 0:
        return None
    ss = max(rss_add - rss_full, 0.0)
    ms_err = rss_full / df_err
    f = (ss / df_int) / ms_err
    from scipy import stats as sps

    return {
        "ss": ss,
        "df": df_int,
        "ms": ss / df_int,
        "f": f,
        "p": float(sps.f.sf(f, df_int, df_err)),
    }
