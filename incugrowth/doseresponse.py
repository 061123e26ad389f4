"""Dose-response curves: four-parameter log-logistic fits, IC50/GR50, Emax, AUC, with 95 % CIs.

The curve, with ``x = log10(dose)``::

    y = einf + (e0 - einf) / (1 + 10 ** (hill * (x - log10(ec50))))

``e0`` is the response without drug (upper plateau of a falling curve), ``einf`` the response
at infinite dose (the fitted lower asymptote), ``ec50`` the dose of the half-maximal effect and
``hill`` (> 0) the steepness. It is the ``LL.4`` model of R's drc and ``HillCurveLL4`` of
Thunor, with the same parameters; a rising curve has ``einf > e0``.

Fits are ordinary least squares (``scipy.optimize.curve_fit``, trust-region reflective, bounded:
``hill`` in [0.05, 20], ``ec50`` within two decades of the tested doses as in GRmetrics, the
plateaus within one response range beyond the data), started from drc's heuristic starting
values and from a generic start, keeping the better fit. 95 % confidence intervals are Wald
intervals from the covariance matrix of the fit (residual variance estimated, Student t with
``n - 4`` degrees of freedom, as Prism and drc's ``confint`` report them); EC50 and IC50
intervals are taken on log10 dose (delta method for IC50) and transformed back, so they are
asymmetric in dose.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.special
import scipy.stats

from incugrowth.errors import IncugrowthError

__all__ = [
    "MIN_DOSES",
    "RESPONSES",
    "DoseResponseFit",
    "dose_response_table",
    "fit_dose_response",
    "ll4",
]

#: Fewest distinct positive doses a condition needs to be fitted (four parameters).
MIN_DOSES = 4

#: Responses :func:`dose_response_table` knows, with the level its IC50 refers to: an absolute
#: level, or None for half of the fitted no-drug response ``e0``.
RESPONSES = {"gr": 0.5, "relative_count": 0.5, "pct_change": None, "dip_rate": None}

_HILL_BOUNDS = (0.05, 20.0)
_EC50_MARGIN = 2.0  # decades beyond the tested doses (GRmetrics: min/100 to max*100)
_F_TEST_ALPHA = 0.05
_PARAMS = ("e0", "einf", "log10_ec50", "hill")


def ll4(dose, e0, einf, ec50, hill):
    """The four-parameter log-logistic curve at ``dose``.

    Examples
    --------
    >>> ll4(np.array([1.0, 3.0, 1e9]), e0=1.0, einf=0.1, ec50=3.0, hill=1.5).round(4)
    array([0.8547, 0.55  , 0.1   ])
    """
    return _curve(np.log10(np.asarray(dose, dtype=float)), e0, einf, np.log10(ec50), hill)


def _curve(x, e0, einf, log_ec50, hill):
    z = hill * (x - log_ec50) * np.log(10.0)
    return einf + (e0 - einf) * scipy.special.expit(-z)


def _jacobian(x, e0, einf, log_ec50, hill):
    z = hill * (x - log_ec50) * np.log(10.0)
    lo = scipy.special.expit(-z)  # weight of e0
    hi = scipy.special.expit(z)  # weight of einf
    slope = (e0 - einf) * lo * hi * np.log(10.0)
    return np.column_stack([lo, hi, slope * hill, -slope * (x - log_ec50)])


@dataclass(frozen=True)
class DoseResponseFit:
    """A fitted dose-response curve and the metrics derived from it.

    Attributes
    ----------
    e0, einf, ec50, hill : float
        Fitted parameters (NaN for ``ec50``, ``hill`` when the response is flat; ``e0`` and
        ``einf`` are then the mean response).
    cov : ndarray
        4 x 4 covariance of ``(e0, einf, log10_ec50, hill)`` (NaN when not estimable).
    dose, response : ndarray
        The observations fitted (positive doses only).
    converged : bool
        The optimiser reported success with finite parameters.
    flat : bool
        The curve is not better than a constant (extra-sum-of-squares F test, p > 0.05):
        the metrics are those of the constant (no IC50, activity area 0).
    p_flat : float
        p-value of that F test (NaN with no residual degrees of freedom).
    at_bound : bool
        A parameter ended on a bound of the fit (the estimate is constrained, not free).
    ic_level : float or None
        Response level the IC50 refers to; None for half of ``e0``.
    """

    e0: float
    einf: float
    ec50: float
    hill: float
    cov: np.ndarray = field(repr=False)
    dose: np.ndarray = field(repr=False)
    response: np.ndarray = field(repr=False)
    converged: bool = True
    flat: bool = False
    p_flat: float = np.nan
    at_bound: bool = False
    ic_level: float | None = 0.5

    @property
    def n_obs(self) -> int:
        return int(self.dose.size)

    @property
    def n_doses(self) -> int:
        return int(np.unique(self.dose).size)

    @property
    def df_resid(self) -> int:
        return self.n_obs - len(_PARAMS)

    @property
    def params(self) -> np.ndarray:
        """``(e0, einf, log10_ec50, hill)``."""
        return np.array([self.e0, self.einf, np.log10(self.ec50), self.hill])

    def predict(self, dose) -> np.ndarray:
        """The fitted response at ``dose`` (the constant for a flat fit)."""
        dose = np.asarray(dose, dtype=float)
        if self.flat:
            return np.full(dose.shape, self.e0)
        return ll4(dose, self.e0, self.einf, self.ec50, self.hill)

    def _level(self, level: float | None, p=None) -> float:
        e0 = self.e0 if p is None else p[0]
        return e0 / 2.0 if level is None else float(level)

    def _log10_ic(self, p, level: float | None) -> float:
        e0, einf, log_ec50, hill = p
        target = self._level(level, p)
        with np.errstate(divide="ignore", invalid="ignore"):
            return log_ec50 + np.log10((e0 - target) / (target - einf)) / hill

    def ic(self, level: float | None = ...) -> float:
        """Dose at which the curve reaches ``level`` (default: the fit's ``ic_level``).

        +inf when the curve stays above the level at every dose, -inf when it stays below
        (as GRmetrics reports GR50 and IC50), NaN when it cannot be computed.
        """
        level = self.ic_level if level is ... else level
        target = self._level(level)
        if not self.flat and not (np.isfinite(self.ec50) and np.isfinite(self.hill)):
            return np.nan  # no curve (the optimiser failed)
        if self.flat or not (min(self.e0, self.einf) < target < max(self.e0, self.einf)):
            # The flat constant sits at e0 == einf: above or below the level everywhere.
            if not np.isfinite(target) or not np.isfinite(self.einf):
                return np.nan
            return np.inf if min(self.e0, self.einf) > target else -np.inf
        return float(10.0 ** self._log10_ic(self.params, level))

    def _se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    def _t(self) -> float:
        return float(scipy.stats.t.ppf(0.975, self.df_resid)) if self.df_resid > 0 else np.nan

    def ci(self, name: str) -> tuple[float, float]:
        """95 % confidence interval of ``"e0"``, ``"einf"``, ``"ec50"``, ``"hill"`` or
        ``"ic50"`` (NaN, NaN when not estimable)."""
        names = {"e0": 0, "einf": 1, "ec50": 2, "hill": 3}
        if name not in (*names, "ic50"):
            raise ValueError(f"`name` must be one of {[*names, 'ic50']}, got {name!r}")
        nan = (np.nan, np.nan)
        if self.flat or not np.all(np.isfinite(self.cov)):
            return nan
        t = self._t()
        if name == "ic50":
            ic = self.ic()
            if not np.isfinite(ic):
                return nan
            grad = _gradient(lambda p: self._log10_ic(p, self.ic_level), self.params)
            se = float(np.sqrt(grad @ self.cov @ grad))
            log_ic = np.log10(ic)
            return 10.0 ** (log_ic - t * se), 10.0 ** (log_ic + t * se)
        i = names[name]
        est, se = self.params[i], self._se()[i]
        low, high = est - t * se, est + t * se
        return (10.0**low, 10.0**high) if name == "ec50" else (low, high)

    def activity_area(self) -> float:
        """Area between 1 and the curve relative to ``e0``, over log10 dose from the lowest to
        the highest tested dose: ``integral (1 - y / e0) d log10(dose)``.

        Thunor's activity area (``HillCurveLL4.aa``), which follows the CCLE's; in decades of
        dose, 0 for no effect, negative for a rising curve, NaN when ``e0 <= 0``.
        """
        if self.flat:
            return 0.0
        if not self.e0 > 0:
            return np.nan
        lo, hi = np.log10(self.dose.min()), np.log10(self.dose.max())
        log_ec50 = np.log10(self.ec50)

        def primitive(x):  # log10(1 + 10**r) without overflow
            return np.logaddexp(0.0, self.hill * (x - log_ec50) * np.log(10.0)) / np.log(10.0)

        return float((primitive(hi) - primitive(lo)) / self.hill * (self.e0 - self.einf) / self.e0)

    def summary(self) -> dict:
        """The metrics of one row of ``dose_response.csv``."""
        doses, means = _dose_means(self.dose, self.response)
        top = doses[-1]
        fitted = self.predict(self.dose)
        ss_tot = float(np.sum((self.response - self.response.mean()) ** 2))
        rss = float(np.sum((self.response - fitted) ** 2))
        ic = self.ic()
        row = {
            "n_doses": self.n_doses,
            "n_obs": self.n_obs,
            "min_dose": float(doses[0]),
            "max_dose": float(top),
            "converged": self.converged,
            "flat": self.flat,
            "p_flat": self.p_flat,
            "at_bound": self.at_bound,
        }
        for name in ("e0", "einf", "hill", "ec50"):
            low, high = self.ci(name)
            row |= {name: getattr(self, name), f"{name}_ci_low": low, f"{name}_ci_high": high}
        low, high = self.ci("ic50")
        row |= {
            "ic50": ic,
            "ic50_ci_low": low,
            "ic50_ci_high": high,
            "ic_level": np.nan if self.ic_level is None else self.ic_level,
            "extrapolated": bool(np.isfinite(ic) and not doses[0] <= ic <= top) or np.isinf(ic),
            "emax": float(self.predict(top)),
            "emax_obs": float(means[-1]),
            "auc": _normalised_trapezoid(doses, means),
            "activity_area": self.activity_area(),
            "r_squared": 1.0 - rss / ss_tot if ss_tot > 0 else np.nan,
            "rmse": float(np.sqrt(rss / self.n_obs)),
        }
        return row


def _gradient(fn, p: np.ndarray) -> np.ndarray:
    grad = np.empty(p.size)
    for i in range(p.size):
        h = 1e-6 * max(abs(p[i]), 1.0)
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (fn(up) - fn(down)) / (2 * h)
    return grad


def _dose_means(dose: np.ndarray, response: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    doses, inverse = np.unique(dose, return_inverse=True)
    means = np.bincount(inverse, weights=response) / np.bincount(inverse)
    return doses, means


def _normalised_trapezoid(doses: np.ndarray, means: np.ndarray) -> float:
    """Trapezoid area of the mean response over log10 dose divided by the log10 dose range:
    GRmetrics' AUC (relative counts) and ``1 - GR_AOC`` (GR values)."""
    x = np.log10(doses)
    return float(np.trapezoid(means, x) / (x[-1] - x[0]))


def _starts(x: np.ndarray, y: np.ndarray, bounds) -> list[np.ndarray]:
    """drc's self-starter for LL.4 (as in Thunor's ``_find_cd_ll4``/``_find_be_ll4``), then a
    generic start at the middle dose."""
    lo, hi = bounds
    ymin, ymax = float(y.min()), float(y.max())
    pad = 0.001 * (ymax - ymin)
    c, d = ymin - pad, ymax + pad
    starts = []
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log((d - y) / (y - c))
        ok = np.isfinite(z)
        if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
            fit = scipy.stats.linregress(x[ok] * np.log(10.0), z[ok])
            b, log_e = fit.slope, -fit.intercept / fit.slope / np.log(10.0)
            # b > 0 falls from d to c; a rising curve is the same curve with e0, einf swapped.
            e0, einf = (d, c) if b > 0 else (c, d)
            starts.append(np.array([e0, einf, log_e, abs(b)]))
    falling = np.corrcoef(x, y)[0, 1] <= 0 if np.ptp(y) > 0 else True
    e0, einf = (ymax, ymin) if falling else (ymin, ymax)
    starts.append(np.array([e0, einf, float(np.median(x)), 1.0]))
    return [np.clip(np.nan_to_num(s, nan=0.0), lo, hi) for s in starts]


def _bounds(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ymin, ymax = float(y.min()), float(y.max())
    span = max(ymax - ymin, 1e-9 * max(1.0, abs(ymax)))
    lo = np.array([ymin - span, ymin - span, x.min() - _EC50_MARGIN, _HILL_BOUNDS[0]])
    hi = np.array([ymax + span, ymax + span, x.max() + _EC50_MARGIN, _HILL_BOUNDS[1]])
    return lo, hi


def _least_squares(x, y, p0, bounds):
    with warnings.catch_warnings():
        # A singular covariance is reported as NaN intervals, not as a warning.
        warnings.simplefilter("ignore", scipy.optimize.OptimizeWarning)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            popt, pcov, _info, _msg, ier = scipy.optimize.curve_fit(
                _curve,
                x,
                y,
                p0=p0,
                bounds=bounds,
                jac=_jacobian,
                method="trf",
                ftol=1e-12,
                xtol=1e-12,
                gtol=1e-12,
                max_nfev=2000,
                full_output=True,
            )
    return popt, pcov, ier > 0


def fit_dose_response(
    data: pd.DataFrame,
    *,
    response: str,
    dose: str = "dose",
    model: str = "ll4",
    ic_level: float | None = ...,
) -> DoseResponseFit:
    """Fit a four-parameter log-logistic curve to ``response`` against ``dose``.

    Rows with a missing response, or a dose that is missing or not positive (controls), are
    left out; at least four distinct doses must remain. Every row is one observation (fit the
    replicate wells, not their means, so the residual variance is estimated).

    After the fit, an extra-sum-of-squares F test compares it with a constant (GRmetrics does
    the same with its three-parameter curve): if p > 0.05 the response is ``flat``, reported as
    the constant mean, with IC50 = +inf if that mean is above the IC level and -inf below, as
    GRmetrics reports GR50.

    Parameters
    ----------
    data : DataFrame
        One row per observation, with the ``dose`` and ``response`` columns.
    response : str
        Column of the response. Its name sets the default IC level (see ``ic_level``).
    dose : str
        Column of the dose (linear scale, any unit; ``ec50`` and ``ic50`` come in that unit).
    model : {"ll4"}
        The curve; only the four-parameter log-logistic is available.
    ic_level : float or None
        Response level the IC50 refers to. Default: 0.5 for ``"gr"`` (GR50) and
        ``"relative_count"`` (IC50 of relative cell count, as GRmetrics); otherwise None,
        meaning half the fitted no-drug response ``e0`` (Thunor's IC50 of DIP rates).

    Returns
    -------
    DoseResponseFit

    Examples
    --------
    >>> dose = np.repeat([0.1, 0.3, 1, 3, 10, 30, 100], 2)
    >>> y = ll4(dose, 1.0, 0.1, 3.0, 1.5) + np.tile([0.01, -0.01], 7)
    >>> fit = fit_dose_response(pd.DataFrame({"dose": dose, "relative_count": y}),
    ...                         response="relative_count")
    >>> round(fit.ec50, 2), round(fit.hill, 2), round(fit.ic(), 2), fit.flat
    (3.0, 1.5, 3.48, False)
    """
    if model != "ll4":
        raise ValueError(f"`model` must be 'll4', got {model!r}")
    for col, what in ((dose, "dose"), (response, "response")):
        if col not in data.columns:
            raise ValueError(f"`data` lacks the {what} column {col!r}")
    d = pd.to_numeric(data[dose], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(data[response], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(d) & (d > 0) & np.isfinite(y)
    d, y = d[keep], y[keep]
    n_doses = np.unique(d).size
    if n_doses < MIN_DOSES:
        raise IncugrowthError(
            f"a dose-response fit of {response!r} needs at least {MIN_DOSES} distinct positive "
            f"doses, got {n_doses}"
        )
    if ic_level is ...:
        ic_level = RESPONSES.get(response)
    order = np.argsort(d, kind="stable")
    d, y = d[order], y[order]
    x = np.log10(d)
    bounds = _bounds(x, y)
    best = None
    for p0 in _starts(x, y, bounds):
        try:
            popt, pcov, ok = _least_squares(x, y, p0, bounds)
        except (RuntimeError, ValueError):
            continue
        rss = float(np.sum((y - _curve(x, *popt)) ** 2))
        if best is None or rss < best[3]:
            best = (popt, pcov, ok and bool(np.all(np.isfinite(popt))), rss)
    mean = float(y.mean())
    ss_null = float(np.sum((y - mean) ** 2))
    no_cov = np.full((4, 4), np.nan)
    constant = {"e0": mean, "einf": mean, "ec50": np.nan, "hill": np.nan, "cov": no_cov}
    common = {"dose": d, "response": y, "ic_level": ic_level}
    if best is None:
        return DoseResponseFit(**constant, **common, converged=False)
    popt, pcov, converged, rss = best
    p_flat = _f_test(ss_null, rss, y.size)
    lo, hi = bounds
    on_bound = np.isclose(popt, lo, rtol=1e-6, atol=1e-9) | np.isclose(
        popt, hi, rtol=1e-6, atol=1e-9
    )
    state = {"converged": converged, "p_flat": p_flat, "at_bound": bool(on_bound.any())}
    if p_flat > _F_TEST_ALPHA or ss_null == 0.0:
        return DoseResponseFit(**constant, **common, **state, flat=True)
    e0, einf, log_ec50, hill = (float(v) for v in popt)
    cov = np.asarray(pcov, dtype=float) if y.size > len(_PARAMS) else no_cov
    fitted = {"e0": e0, "einf": einf, "ec50": 10.0**log_ec50, "hill": hill, "cov": cov}
    return DoseResponseFit(**fitted, **common, **state)


def _f_test(ss_null: float, ss_model: float, n: int) -> float:
    """p-value of the four-parameter curve against a constant (3 and n - 4 df)."""
    df1, df2 = len(_PARAMS) - 1, n - len(_PARAMS)
    if df2 <= 0:
        return np.nan
    if ss_model <= 0:
        return 0.0
    f = ((ss_null - ss_model) / df1) / (ss_model / df2)
    return float(scipy.stats.f.sf(f, df1, df2))


_SUMMARY = [
    "n_doses", "n_obs", "min_dose", "max_dose", "converged", "flat", "p_flat", "at_bound",
    "e0", "e0_ci_low", "e0_ci_high", "einf", "einf_ci_low", "einf_ci_high",
    "hill", "hill_ci_low", "hill_ci_high", "ec50", "ec50_ci_low", "ec50_ci_high",
    "ic50", "ic50_ci_low", "ic50_ci_high", "ic_level", "extrapolated",
    "emax", "emax_obs", "auc", "activity_area", "r_squared", "rmse",
]  # fmt: skip


def _response_rows(
    table: pd.DataFrame,
    response: str,
    *,
    control: str,
    controls: Mapping[str, str],
    by: list[str],
    at_h: float,
    tolerance_h: float,
) -> tuple[pd.DataFrame, float]:
    """One row per well with the ``response`` column, and the hour used (NaN for DIP)."""
    # Imported here: dip imports kinetics, and a notebook fitting its own table needs neither.
    from incugrowth import dip, kinetics

    if response == "dip_rate":
        if "dip_rate" in table.columns:
            return table, np.nan
        vehicles = dip._treatment_controls(table, controls).values()
        return dip.dip_rates(table, control={control, *vehicles}), np.nan
    hour = float(kinetics.endpoint(table, at_h, tolerance_h=tolerance_h)["endpoint_h"].iloc[0])
    if response == "pct_change":
        return table[table["elapsed_h"] == hour], hour
    pair_by = [c for c in by if c not in ("treatment", "dose")] or ["cell_line"]
    per_well = dip.gr_values(
        table, control=control, controls=controls, by=pair_by, per_well=True, times=[hour]
    )
    return per_well, hour


def dose_response_table(
    growth_or_dip: pd.DataFrame,
    *,
    response: str = "gr",
    by: Sequence[str] = ("cell_line", "treatment"),
    at_h: float = 72.0,
    tolerance_h: float = 6.0,
    control: str = "untreated",
    controls: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Fit a dose-response curve to every dose series and tabulate its metrics.

    Each level of ``by`` (a cell line and treatment) with at least four distinct positive
    doses is fitted with :func:`fit_dose_response` on its replicate wells; levels with fewer
    doses (such as a single-dose design, or the controls) give no row.

    Parameters
    ----------
    growth_or_dip : DataFrame
        The growth table, or for ``response="dip_rate"`` the DIP table of
        :func:`incugrowth.dip.dip_rates` (computed from the growth table when it is given).
    response : {"gr", "relative_count", "pct_change", "dip_rate"}
        ``"gr"``: GR value per well at ``at_h`` (:func:`incugrowth.dip.gr_values` with
        ``per_well=True``), IC50 is GR50, the dose where GR = 0.5 (Hafner 2016).
        ``"relative_count"``: count over the mean control count at ``at_h`` (Thunor's
        viability), IC50 where it is 0.5. ``"pct_change"``: percent change at ``at_h``;
        ``"dip_rate"``: the DIP rate; for these two the IC50 is where the curve falls to half
        its fitted no-drug response ``e0``.
    by : sequence of str
        Columns that define one dose series.
    at_h : float
        Hour of the response (the nearest imaged time point, as :func:`kinetics.endpoint`);
        unused for DIP rates.
    tolerance_h : float
        Farthest the time point used may lie from ``at_h``.
    control : str
        Treatment name of the control wells (GR values, relative counts, DIP windows).
    controls : mapping, optional
        Per-treatment controls for GR values and relative counts (a vehicle), as in
        :func:`incugrowth.dip.gr_values`; their treatments are also fitted over the whole
        course for DIP rates.

    Returns
    -------
    DataFrame
        The ``dose_response.csv`` table, one row per fitted series: the ``by`` columns,
        ``dose_unit`` (when known), ``response``, ``at_h`` (hour used; NaN for DIP rates),
        ``n_doses``, ``n_obs``, ``min_dose``, ``max_dose``, ``converged``, ``flat``,
        ``p_flat`` (F test against a constant), ``at_bound``, the parameters ``e0`` (no-drug
        response), ``einf`` (fitted lower asymptote: Einf, GRinf), ``hill``, ``ec50`` and
        ``ic50`` (GR50 for GR) each with ``_ci_low``/``_ci_high`` (95 %), ``ic_level`` (NaN:
        half of ``e0``), ``extrapolated`` (IC50 outside the tested doses or infinite),
        ``emax`` (fitted response at the highest tested dose; GRmax for GR),
        ``emax_obs`` (mean observed response there), ``auc`` (trapezoid of the mean response
        over log10 dose, divided by the log10 dose range: GRmetrics' AUC; GR_AOC is
        ``1 - auc``), ``activity_area`` (Thunor/CCLE, in decades), ``r_squared``, ``rmse``.

    Examples
    --------
    >>> dose = np.repeat([0.1, 0.3, 1, 3, 10, 30, 100], 3)
    >>> dip = pd.DataFrame({"cell_line": "A", "treatment": "drug", "dose": dose,
    ...                     "dip_rate": ll4(dose, 0.04, -0.01, 3.0, 1.2)
    ...                                 + np.tile([0.001, -0.001, 0.0], 7)})
    >>> row = dose_response_table(dip, response="dip_rate").iloc[0]
    >>> round(float(row["ec50"]), 2), round(float(row["ic50"]), 2), bool(row["flat"])
    (3.0, 2.14, False)
    """
    if response not in RESPONSES:
        raise ValueError(f"`response` must be one of {list(RESPONSES)}, got {response!r}")
    by = list(by)
    rows, hour = _response_rows(
        growth_or_dip,
        response,
        control=control,
        controls=controls or {},
        by=by,
        at_h=at_h,
        tolerance_h=tolerance_h,
    )
    missing = [c for c in (*by, "dose", response) if c not in rows.columns]
    if missing:
        raise ValueError(f"`growth_or_dip` lacks the column(s) {missing}")
    out = []
    for key, group in rows.groupby(by, dropna=False, sort=True):
        doses = pd.to_numeric(group["dose"], errors="coerce")
        if doses[doses > 0].nunique() < MIN_DOSES:
            continue
        fit = fit_dose_response(group, response=response)
        record = dict(zip(by, key))
        if "dose_unit" in group.columns:
            units = group["dose_unit"].dropna()
            record["dose_unit"] = units.iloc[0] if len(units) else np.nan
        record |= {"response": response, "at_h": hour, **fit.summary()}
        out.append(record)
    unit = ["dose_unit"] if "dose_unit" in rows.columns else []
    columns = [*by, *unit, "response", "at_h", *_SUMMARY]
    return pd.DataFrame(out, columns=columns)
