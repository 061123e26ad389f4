"""Repeated-measures (split-plot) two-way ANOVA with the Greenhouse-Geisser correction."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from incugrowth.errors import IncugrowthError
from incugrowth.stats._common import _drop_flat_levels, _fmt, _levels, _prepare, _warn_all

RM_ANOVA_COLUMNS = ["source", "ss", "df", "ms", "f", "p", "eps_gg", "p_gg", "partial_eta_sq"]


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
        Wells not measured at every time are left out, and so is a time at which every well
        has the same value (percent change at the baseline).

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
    frame, flat = _drop_flat_levels(frame, dv, within)
    messages += flat
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
