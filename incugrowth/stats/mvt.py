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
