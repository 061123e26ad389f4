"""Known answers for four-parameter log-logistic dose-response fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.optimize

from incugrowth import doseresponse
from incugrowth.doseresponse import (
    MIN_DOSES,
    DoseResponseFit,
    dose_response_table,
    fit_dose_response,
    ll4,
)
from incugrowth.errors import IncugrowthError
from incugrowth.kinetics import growth_table, percent_change

DOSES = np.geomspace(0.1, 100, 8)
# The simulated curve: EC50 3, Hill 1.5, top 1, bottom 0.1. It crosses 0.5 at
# 3 * ((1 - 0.5) / (0.5 - 0.1)) ** (1 / 1.5).
TRUE = {"e0": 1.0, "einf": 0.1, "ec50": 3.0, "hill": 1.5}
TRUE_IC50 = 3.0 * 1.25 ** (1 / 1.5)


def _hill_data(seed=0, sd=0.02, replicates=3, doses=DOSES, **params) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dose = np.repeat(doses, replicates)
    curve = {**TRUE, **params}
    y = ll4(dose, **curve) + rng.normal(0, sd, dose.size)
    return pd.DataFrame({"dose": dose, "relative_count": y})


def test_simulated_hill_curve_is_recovered_within_its_ci():
    # One simulated experiment (a 95 % interval misses in 1 of 20; the coverage over many
    # experiments is checked below).
    fit = fit_dose_response(_hill_data(seed=1), response="relative_count")
    assert fit.converged and not fit.flat and not fit.at_bound
    assert fit.p_flat < 1e-10
    for name in ("e0", "einf", "hill", "ec50"):
        low, high = fit.ci(name)
        assert low < TRUE[name] < high, name
        assert low < getattr(fit, name) < high, name
    low, high = fit.ci("ic50")
    assert low < TRUE_IC50 < high
    assert low < fit.ic() < high
    # Sane widths for 24 points with 2 % noise: EC50 known to about +-10 %, Hill to +-0.3.
    ec_low, ec_high = fit.ci("ec50")
    assert 1.05 < ec_high / ec_low < 1.5
    hill_low, hill_high = fit.ci("hill")
    assert 0.05 < hill_high - hill_low < 0.6


def test_ci_coverage_is_near_nominal():
    """Wald intervals of EC50 cover the truth in about 95 % of simulated experiments."""
    hits = 0
    for seed in range(60):
        fit = fit_dose_response(_hill_data(seed=seed, sd=0.03), response="relative_count")
        low, high = fit.ci("ec50")
        hits += low <= 3.0 <= high
    assert 51 <= hits <= 60


def test_noise_free_curve_is_exact():
    fit = fit_dose_response(_hill_data(sd=0.0, replicates=1), response="relative_count")
    assert fit.ec50 == pytest.approx(3.0, rel=1e-7)
    assert fit.hill == pytest.approx(1.5, rel=1e-7)
    assert fit.ic() == pytest.approx(TRUE_IC50, rel=1e-7)
    assert fit.ic(0.55) == pytest.approx(3.0, rel=1e-7)  # the midpoint of 1 and 0.1
    assert fit.ic(None) == pytest.approx(3.0 * 1.25 ** (1 / 1.5), rel=1e-7)  # half of e0 = 1


def test_rising_curve_has_einf_above_e0_and_positive_hill():
    fit = fit_dose_response(_hill_data(e0=0.2, einf=1.4), response="relative_count")
    assert fit.hill > 0 and fit.einf > fit.e0
    assert fit.ec50 == pytest.approx(3.0, rel=0.1)
    assert fit.activity_area() < 0


def test_flat_response_gives_flat_and_infinite_ic50():
    dose = np.repeat(DOSES, 3)
    scatter = np.tile([0.02, -0.02, 0.0], DOSES.size)  # the same mean at every dose
    for level, expected in ((0.8, np.inf), (0.3, -np.inf)):
        data = pd.DataFrame({"dose": dose, "gr": level + scatter})
        fit = fit_dose_response(data, response="gr")
        assert fit.flat and fit.p_flat > 0.05
        assert fit.ic() == expected  # GRmetrics: +inf above GR = 0.5, -inf below
        assert fit.e0 == fit.einf == pytest.approx(level)
        assert np.isnan(fit.ec50) and np.isnan(fit.hill)
        assert fit.activity_area() == 0.0
        assert np.all(np.isnan(fit.ci("ic50")))
        assert fit.predict([1.0, 10.0]) == pytest.approx([level, level])


def test_weak_noisy_effect_is_flat_strong_one_is_not():
    weak = fit_dose_response(_hill_data(seed=3, sd=0.1, einf=0.95), response="relative_count")
    strong = fit_dose_response(_hill_data(seed=3, sd=0.1), response="relative_count")
    assert weak.flat and not strong.flat


def test_curve_that_never_reaches_half():
    fit = fit_dose_response(_hill_data(einf=0.7), response="relative_count")
    assert not fit.flat
    assert fit.ic() == np.inf
    assert fit.summary()["extrapolated"]


def test_fewer_than_four_doses_raise_and_zero_dose_is_left_out():
    three = _hill_data(doses=np.array([1.0, 3.0, 10.0]))
    with pytest.raises(IncugrowthError, match="at least 4 distinct positive doses, got 3"):
        fit_dose_response(three, response="relative_count")
    with_controls = pd.concat([three, pd.DataFrame({"dose": [0.0, np.nan],
                                                    "relative_count": [1.0, 1.0]})])  # fmt: skip
    with pytest.raises(IncugrowthError, match="got 3"):
        fit_dose_response(with_controls, response="relative_count")


def test_four_single_points_fit_without_intervals():
    data = _hill_data(sd=0.0, replicates=1, doses=np.array([0.3, 3.0, 10.0, 30.0]))
    fit = fit_dose_response(data, response="relative_count")
    assert MIN_DOSES == 4 and fit.df_resid == 0
    assert np.isnan(fit.p_flat) and not fit.flat
    assert np.all(np.isnan(fit.ci("ec50")))
    assert fit.ec50 == pytest.approx(3.0, rel=1e-5)


def test_activity_area_matches_numerical_integral():
    fit = fit_dose_response(_hill_data(sd=0.0), response="relative_count")
    x = np.linspace(-1, 2, 20001)
    numeric = np.trapezoid(1 - fit.predict(10.0**x) / fit.e0, x)
    assert fit.activity_area() == pytest.approx(numeric, rel=1e-7)


def test_summary_metrics():
    fit = fit_dose_response(_hill_data(sd=0.0), response="relative_count")
    row = fit.summary()
    assert row["min_dose"] == 0.1 and row["max_dose"] == 100.0
    assert row["n_doses"] == 8 and row["n_obs"] == 24
    assert row["emax"] == pytest.approx(ll4(100.0, **TRUE))
    assert row["emax_obs"] == pytest.approx(ll4(100.0, **TRUE))
    means = ll4(DOSES, **TRUE)
    auc = np.trapezoid(means, np.log10(DOSES)) / 3.0
    assert row["auc"] == pytest.approx(auc)
    assert row["r_squared"] == pytest.approx(1.0)
    assert not row["extrapolated"]


def test_failed_optimisation_is_reported_not_raised(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr(scipy.optimize, "curve_fit", fail)
    fit = fit_dose_response(_hill_data(), response="relative_count")
    assert isinstance(fit, DoseResponseFit)
    assert not fit.converged and np.isnan(fit.ec50) and np.isnan(fit.ic())


def test_bad_arguments():
    data = _hill_data()
    with pytest.raises(ValueError, match="model"):
        fit_dose_response(data, response="relative_count", model="ll5")
    with pytest.raises(ValueError, match="'viability'"):
        fit_dose_response(data, response="viability")
    with pytest.raises(ValueError, match="response"):
        dose_response_table(data, response="auc")
    fit = fit_dose_response(data, response="relative_count")
    with pytest.raises(ValueError, match="name"):
        fit.ci("slope")


# --------------------------------------------------------------------------- table

HOURS = np.arange(0.0, 97.0, 12.0)
GR_TRUE = {"e0": 1.0, "einf": -0.4, "ec50": 3.0, "hill": 1.5}


def _growth(doses=DOSES, noise=0.0, seed=1) -> pd.DataFrame:
    """Controls double every 24 h; treated wells grow at the rate that gives the GR curve
    ``GR_TRUE`` at every time: log2(x / x0) = log2(1 + GR) * t / 24."""
    rng = np.random.default_rng(seed)
    frames = []
    wells = iter(f"{r}{c}" for r in "BCDEFGHIJKLMNO" for c in range(2, 23))
    for line in ("M420", "M464"):
        series = [("untreated", np.nan)] * 3 + [("IFN gamma", d) for d in doses for _ in range(3)]
        series += [("IFN alfa", 5000.0)] * 3
        for treatment, dose in series:
            gr = 1.0 if np.isnan(dose) else ll4(dose, **GR_TRUE)
            log2n = np.log2(200) + np.log2(1 + gr) * HOURS / 24
            count = 2.0 ** (log2n + rng.normal(0, noise, HOURS.size))
            frames.append(pd.DataFrame({"well": next(wells), "elapsed_h": HOURS, "count": count,
                                        "cell_line": line, "treatment": treatment,
                                        "dose": dose, "dose_unit": "ng/ml"}))  # fmt: skip
    return percent_change(pd.concat(frames, ignore_index=True))


def test_table_recovers_gr_curve_and_skips_single_dose_series():
    table = dose_response_table(_growth(), response="gr", at_h=72)
    assert table[["cell_line", "treatment"]].values.tolist() == [
        ["M420", "IFN gamma"],
        ["M464", "IFN gamma"],
    ]
    row = table.iloc[0]
    assert row["response"] == "gr" and row["at_h"] == 72.0 and row["dose_unit"] == "ng/ml"
    assert row["ec50"] == pytest.approx(3.0, rel=1e-6)
    assert row["einf"] == pytest.approx(-0.4, abs=1e-6)
    gr50 = 3.0 * ((1.0 - 0.5) / (0.5 - -0.4)) ** (1 / 1.5)
    assert row["ic50"] == pytest.approx(gr50, rel=1e-6)
    assert row["ic_level"] == 0.5


def test_table_columns_and_empty_result():
    table = dose_response_table(_growth(), response="relative_count", at_h=72)
    assert list(table.columns) == [
        "cell_line", "treatment", "dose_unit", "response", "at_h", *doseresponse._SUMMARY
    ]  # fmt: skip
    single = _growth(doses=np.array([1.0, 10.0, 100.0]))
    empty = dose_response_table(single, response="gr")
    assert empty.empty and list(empty.columns) == list(table.columns)


def test_table_responses_agree_on_potency_order():
    growth = _growth(noise=0.01)
    for response in ("gr", "relative_count", "pct_change", "dip_rate"):
        table = dose_response_table(growth, response=response, at_h=72)
        assert len(table) == 2, response
        assert table["converged"].all() and not table["flat"].any(), response
        assert np.all(table["ec50"].between(1.0, 10.0)), response
        if response == "dip_rate":
            assert table["at_h"].isna().all()
            # DIP rate = log2(1 + GR) / 24 here, so e0 is the control rate 1/24 per hour.
            assert table["e0"].tolist() == pytest.approx([1 / 24] * 2, rel=0.05)


def test_table_from_a_dip_table():
    from incugrowth.dip import dip_rates

    growth = _growth()
    via_growth = dose_response_table(growth, response="dip_rate")
    via_dip = dose_response_table(dip_rates(growth), response="dip_rate")
    pd.testing.assert_frame_equal(via_growth, via_dip)


def test_table_uses_the_nearest_time_point():
    table = dose_response_table(_growth(), response="gr", at_h=70)
    assert table["at_h"].tolist() == [72.0, 72.0]
    with pytest.raises(IncugrowthError, match="no time point within"):
        dose_response_table(_growth(), response="gr", at_h=200)
    with pytest.raises(IncugrowthError, match="within 1"):
        dose_response_table(_growth(), response="gr", at_h=70, tolerance_h=1)


def test_simulated_ifn_gamma_dose_series_recovers_the_design_ec50():
    """The simulator's ``doses`` design (M407, IFN gamma 0.1-100 ng/ml, triplicates) removes a
    Hill-shaped fraction of the growth rate, EC50 2 ng/ml, Hill 1. The GR values at 72 h and
    the DIP rates, the two growth-rate metrics, give an EC50 whose 95 % interval holds it
    (crowding near confluence and the 16 h onset bias both a little; over seeds 0-9 the
    intervals hold 2 ng/ml in 10 and 9 of 10 experiments)."""
    simulate = pytest.importorskip("incugrowth.simulate")
    if "doses" not in simulate.design_names():
        pytest.skip("the simulator has no 'doses' design")
    design = simulate.get_design("doses")
    growth = growth_table(simulate.simulate_counts(design, seed=0), design.plate_map())
    for response in ("gr", "dip_rate"):
        table = dose_response_table(growth, response=response, at_h=72)
        assert len(table) == 1, response
        row = table.iloc[0]
        assert row["dose_unit"] == "ng/ml" and row["n_doses"] == 7 and row["n_obs"] == 21
        assert row["converged"] and not row["flat"], response
        assert row["ec50_ci_low"] < 2.0 < row["ec50_ci_high"], response
        assert row["ec50_ci_high"] / row["ec50_ci_low"] < 4, response
        assert row["hill_ci_low"] < 1.0 < row["hill_ci_high"], response
