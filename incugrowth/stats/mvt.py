"""Multivariate t probabilities and critical values of a family of Dunnett-type comparisons.

Within one family every comparison is a difference of two independent group means, and each
treatment has exactly one control, so the comparisons form a forest over the groups. Given the
scale S of the t distribution, a leaf contributes a difference of two normal CDFs, an internal
node a one-dimensional integral, a root one more: the exact probability is a low-dimensional
smooth integral, evaluated by quadrature to about 1e-12 (no Monte Carlo noise, so root finding
for the critical value is exact too). Correlations are those implied by the group sizes.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

_GL_NODES = 32
_TAIL = 9.0  # standard deviations beyond which a normal density is negligible (< 1e-18)


def _scale_nodes(df: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[f(S)], S = sqrt(chi2(df)/df): trapezoid rule in log S.

    Infinite ``df`` (a normal approximation, as for a mixed model) is the single node S = 1.
    """
    nu = float(df)
    if np.isinf(nu):
        return np.ones(1), np.ones(1)
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


#: Integration points and seed of the quasi-Monte Carlo integral of a general family (error
#: about 1e-6; the same seed every time, so results do not change from run to run).
_QMC_POINTS = 50_000
_QMC_SEED = 20160901


def _forest_variances(group_cov: np.ndarray, groups: list, edges) -> dict | None:
    """Group variances of an equivalent forest, or None when the covariance has none.

    The comparisons of a family are differences of group estimates. When the estimates'
    covariance is a diagonal plus one constant (independent groups, or groups that share one
    common random term, such as the plate effect of complete blocks), the constant cancels
    in every difference and the family is that of independent groups with the diagonal as
    their variances: the exact quadrature applies.
    """
    k = len(groups)
    if k < 2:
        return None
    off = group_cov[~np.eye(k, dtype=bool)]
    scale = float(np.max(np.abs(np.diag(group_cov))))
    common = float(np.mean(off))
    if np.max(np.abs(off - common)) > 1e-9 * scale:
        return None
    diag = np.diag(group_cov) - common
    if np.any(diag <= 0):
        return None
    return {g: float(v) for g, v in zip(groups, diag)}


def _box_general(corr: np.ndarray, lower, upper, df: float) -> float:
    """P(lower <= T <= upper), T multivariate t (normal for infinite df) with ``corr``."""
    if np.isinf(df):
        dist = sps.multivariate_normal(mean=np.zeros(len(corr)), cov=corr)
        return float(dist.cdf(upper, lower_limit=lower, rng=_QMC_SEED))
    dist = sps.multivariate_t(shape=corr, df=df)
    return float(dist.cdf(upper, lower_limit=lower, maxpts=_QMC_POINTS, random_state=_QMC_SEED))


def _treatment_contrasts(est, cov, index, level, edges):
    """The treatment-vs-control differences of one family (`edges`: (treatment, control)
    pairs within `level`) from cell-mean estimates `est` with covariance `cov` (indexed by
    ``index[(level, group)]``): the groups, their covariance, the differences and the
    variances of the differences."""
    groups = list(dict.fromkeys(g for e in edges for g in e))
    ix = [index[(level, g)] for g in groups]
    group_cov = cov[np.ix_(ix, ix)]
    pos = {g: i for i, g in enumerate(groups)}
    diff = np.array([est[index[(level, t)]] - est[index[(level, c)]] for t, c in edges])
    var = np.array(
        [
            group_cov[pos[t], pos[t]] + group_cov[pos[c], pos[c]] - 2 * group_cov[pos[t], pos[c]]
            for t, c in edges
        ]
    )
    return groups, group_cov, diff, var


def _contrast_inference(group_cov, groups, edges, t, df, alternative, conf_level):
    """Adjusted P values and critical value of a family of differences of correlated
    estimates (a blocked or mixed model), as :func:`_family_inference` does for independent
    group means.

    ``group_cov`` is the covariance (up to a common factor) of the estimates of ``groups``;
    ``edges[i] = (treatment, control)``. Exact quadrature when the covariance is that of a
    forest (see :func:`_forest_variances`), else the quasi-Monte Carlo integral of the
    multivariate t (Genz and Bretz, the method of R's mvtnorm) with a fixed seed.
    """
    group_cov = np.asarray(group_cov, float)
    variances = _forest_variances(group_cov, list(groups), edges)
    if variances is not None:
        return _family_inference(variances, edges, t, df, alternative, conf_level)
    index = {g: i for i, g in enumerate(groups)}
    contrast = np.zeros((len(edges), len(groups)))
    for i, (child, parent) in enumerate(edges):
        contrast[i, index[child]], contrast[i, index[parent]] = 1.0, -1.0
    cov = contrast @ group_cov @ contrast.T
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    return _general_inference(corr, np.asarray(t, float), df, alternative, conf_level)


def _general_inference(corr, t, df, alternative, conf_level):
    k = len(t)
    dist = sps.norm if np.isinf(df) else sps.t(df)
    if alternative == "two-sided":
        raw = 2.0 * dist.sf(np.abs(t))
    elif alternative == "greater":
        raw = dist.sf(t)
    else:
        raw = dist.cdf(t)

    def box(q):
        if alternative == "two-sided":
            lo, hi = np.full(k, -abs(q)), np.full(k, abs(q))
        elif alternative == "greater":
            lo, hi = np.full(k, -np.inf), np.full(k, q)
        else:
            lo, hi = np.full(k, q), np.full(k, np.inf)
        if k == 1:
            return float(dist.cdf(hi[0]) - dist.cdf(lo[0]))
        return _box_general(corr, lo, hi, df)

    if k == 1:
        p_adj = raw.copy()
    else:
        p_adj = np.clip([1.0 - box(q) for q in t], raw, np.minimum(1.0, k * raw))
    alpha = 1.0 - conf_level
    sides = 2.0 if alternative == "two-sided" else 1.0
    low = dist.ppf(1.0 - alpha / sides)
    if k == 1:
        return p_adj, float(low)
    high = dist.ppf(1.0 - alpha / (sides * k))
    sign = -1.0 if alternative == "less" else 1.0
    crit = optimize.brentq(
        lambda q: box(sign * q) - conf_level, low * (1 - 1e-9), high * (1 + 1e-6), xtol=1e-7
    )
    return np.asarray(p_adj, float), float(crit)
