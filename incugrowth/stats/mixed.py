"""Linear mixed model of the wells of repeated plates: the sensitivity analysis of a combine.

The block analysis (:mod:`incugrowth.stats.blocks`) averages the wells of each plate x
condition first. The mixed model keeps the wells, with a random intercept per plate and per
plate x condition (statsmodels ``MixedLM``, REML), and compares each treatment with its
control through the fixed effects: R's ``lmer(y ~ cell_line * treatment + (1 | plate) +
(1 | plate:cell_line:treatment))`` with ``emmeans(..., lmer.df = "asymptotic")``.

What it does not give: an exact small-sample distribution. The tests are Wald z tests (the
degrees of freedom are taken as infinite); with three plates they are somewhat liberal, and
Satterthwaite or Kenward-Roger df are not computed. The block analysis is the one reported.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthError
from incugrowth.stats._common import _fmt, _levels, _prepare, _warn_all, stars
from incugrowth.stats.comparisons import DUNNETT_COLUMNS, _check_dunnett_args, _control_map
from incugrowth.stats.mvt import _contrast_inference, _treatment_contrasts

__all__ = ["mixed_dunnett"]


def _fit(frame: pd.DataFrame, dv: str, block: str, conditions: list, cond: np.ndarray):
    """REML fit; the condition means, their covariance, the variance components, messages."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    index = {c: i for i, c in enumerate(conditions)}
    data = pd.DataFrame(
        {
            "y": frame[dv].to_numpy(float),
            "cond": [f"c{index[c]}" for c in cond],
            "plate": frame[block].astype(str).to_numpy(),
        }
    )
    model = MixedLM.from_formula(
        "y ~ 0 + cond",
        groups="plate",
        re_formula="1",
        vc_formula={"plate_condition": "0 + cond"},
        data=data,
    )
    messages = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(reml=True, method=["lbfgs", "powell"])
    for w in caught:
        text = str(w.message).split("\n")[0]
        messages.append(f"mixed model: {text}")
    k = len(conditions)
    names = [f"cond[c{i}]" for i in range(k)]
    cov = fit.cov_params().loc[names, names].to_numpy()
    components = {
        "plate": float(np.asarray(fit.cov_re)[0, 0]),
        "plate:condition": float(np.asarray(fit.vcomp)[0]),
        "residual": float(fit.scale),
    }
    return fit.fe_params[names].to_numpy(), cov, components, messages


def mixed_dunnett(
    wells: pd.DataFrame,
    dv: str = "pct_change",
    block: str = "plate",
    treatment: str = "treatment",
    by: str = "cell_line",
    control: str = "untreated",
    controls: Mapping[str, str] | None = None,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Dunnett-type comparisons from a mixed model of the wells (a sensitivity analysis).

    The model: ``dv`` of each well = its condition's mean + a random plate intercept + a
    random plate x condition intercept + the well's error, fitted by REML. Each treatment is
    compared with its control within each ``by`` level through the fixed effects; adjusted P
    values and simultaneous intervals are single-step over the family, from the multivariate
    normal of the Wald statistics.

    The tests are z tests: the model gives **no exact small-sample degrees of freedom**
    (``df`` is infinite), so with few plates its P values are smaller than an exact test's.
    Read it beside :func:`~incugrowth.stats.blocks.block_dunnett`: where the conclusions
    agree, they do not depend on how the wells are weighed.

    Parameters
    ----------
    wells : pandas.DataFrame
        One row a well (the endpoint of every plate), with the ``block`` column.
    dv, block, treatment, by, control, controls, conf_level
        As in :func:`~incugrowth.stats.blocks.block_dunnett`.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`~incugrowth.stats.dunnett` (``t`` holds the z statistic, ``df``
        is infinite, ``n_treatment`` and ``n_control`` count wells); ``attrs`` holds the
        variance components (``"plate"``, ``"plate:condition"``, ``"residual"``) under
        ``variances`` and the fitting messages under ``messages``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"plate": [1] * 4 + [2] * 4 + [3] * 4, "cell_line": "A",
    ...                   "treatment": ["untreated", "untreated", "IFN", "IFN"] * 3,
    ...                   "pct_change": [200.0, 210, 100, 106, 231, 236, 120, 133,
    ...                                  190, 186, 97, 90]})
    >>> res = mixed_dunnett(d)
    >>> res[["treatment", "mean_diff", "stars"]].round(2)
      treatment  mean_diff stars
    0       IFN    -101.17   ***
    """
    _check_dunnett_args("two-sided", conf_level, True)
    frame, messages = _prepare(wells, dv, (block, by, treatment), "mixed_dunnett")
    if frame[block].nunique() < 2:
        raise IncugrowthError(f"mixed_dunnett needs >= 2 levels of {block!r} (plates)")
    cond = np.empty(len(frame), dtype=object)
    cond[:] = list(zip(frame[by], frame[treatment]))
    conditions = list(dict.fromkeys(cond))
    try:
        est, cov, components, fit_messages = _fit(frame, dv, block, conditions, cond)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise IncugrowthError(f"the mixed model could not be fitted ({exc})") from None
    messages += fit_messages
    index = {c: i for i, c in enumerate(conditions)}
    n_wells = pd.Series(cond).value_counts()
    parent = _control_map(control, controls, _levels(frame[treatment]))
    rows = []
    for level in _levels(frame[by]):
        present = [t for t in _levels(frame[treatment]) if (level, t) in index]
        edges = [(t, parent[t]) for t in present if t in parent and parent[t] in present]
        if not edges:
            messages.append(f"{by} {_fmt(level)}: nothing to compare in the mixed model")
            continue
        groups, group_cov, diff, var = _treatment_contrasts(est, cov, index, level, edges)
        se = np.sqrt(var)
        z = diff / se
        p_adj, crit = _contrast_inference(
            group_cov, groups, edges, z, np.inf, "two-sided", conf_level
        )
        for i, (t, c) in enumerate(edges):
            rows.append(
                {
                    by: level,
                    "treatment": t,
                    "control": c,
                    "mean_diff": diff[i],
                    "se": se[i],
                    "t": z[i],
                    "df": np.inf,
                    "p_adj": p_adj[i],
                    "ci_low": diff[i] - crit * se[i],
                    "ci_high": diff[i] + crit * se[i],
                    "stars": stars(p_adj[i]),
                    "n_treatment": int(n_wells[(level, t)]),
                    "n_control": int(n_wells[(level, c)]),
                    "mean_treatment": est[index[(level, t)]],
                    "mean_control": est[index[(level, c)]],
                }
            )
    _warn_all([m for m in messages if not m.startswith("mixed model:")])
    if not rows:
        raise IncugrowthError(f"nothing to compare: no {by} has both {control!r} and a treatment")
    table = pd.DataFrame(rows, columns=[by, *DUNNETT_COLUMNS])
    table.attrs.update(
        {
            "variances": components,
            "messages": [m for m in messages if m.startswith("mixed model:")],
            "model": f"{dv} ~ {by} * {treatment} + (1 | {block}) + (1 | {block}:condition), REML",
            "df": "none: Wald z tests (no exact small-sample degrees of freedom)",
        }
    )
    return table
