"""Known answers for DIP rates and GR values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from incugrowth.dip import dip_rates, gr_values, tyson1
from incugrowth.errors import IncugrowthWarning

HOURS = np.arange(0.0, 97.0, 4.0)


def _wells(counts: dict[str, np.ndarray], times=HOURS, **annotation) -> pd.DataFrame:
    """A growth table with one well per entry of ``counts``; ``annotation`` maps a column to
    a per-well dict of values (or one value for every well)."""
    frames = []
    for well, count in counts.items():
        frame = pd.DataFrame({"well": well, "elapsed_h": times, "count": count})
        for col, value in annotation.items():
            frame[col] = value[well] if isinstance(value, dict) else value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- DIP rates


@pytest.mark.parametrize("treatment", ["untreated", "drug"])
def test_count_doubling_every_hour_has_dip_rate_one(treatment):
    t = np.arange(0.0, 13.0)
    growth = _wells({"B2": 50 * 2.0**t}, times=t, treatment=treatment)
    row = dip_rates(growth).iloc[0]
    assert row["dip_rate"] == pytest.approx(1.0, abs=1e-12)
    assert row["dip_se"] == pytest.approx(0.0, abs=1e-12)
    assert row["r_squared"] == pytest.approx(1.0, abs=1e-12)
    # A perfect line: the longest window (the whole course) scores best.
    assert (row["first_h"], row["n_points"]) == (0.0, 13)


def test_constant_count_has_dip_rate_zero():
    growth = _wells({"B2": np.full(HOURS.size, 300.0), "B3": np.full(HOURS.size, 300.0)},
                    treatment={"B2": "untreated", "B3": "drug"})  # fmt: skip
    out = dip_rates(growth).set_index("well")
    assert np.all(out["dip_rate"] == 0.0)
    assert out.loc["B2", "n_points"] == HOURS.size
    assert np.isnan(out.loc["B2", "r_squared"])  # R^2 of a constant is undefined
    # As in Thunor: every longer window has adj. R^2 < 0 (R^2 taken as 0), so the three-point
    # window, which scores 0, wins.
    assert (out.loc["B3", "first_h"], out.loc["B3", "n_points"]) == (HOURS[-3], 3)


def test_treated_window_skips_the_lag_and_control_does_not():
    lag, rate = 24.0, -0.05
    log2n = 8 + np.where(HOURS < lag, 0.0, rate * (HOURS - lag))
    growth = _wells({"B2": 2.0**log2n, "B3": 2.0**log2n},
                    treatment={"B2": "drug", "B3": "untreated"})  # fmt: skip
    out = dip_rates(growth).set_index("well")
    assert out.loc["B2", "first_h"] == lag
    assert out.loc["B2", "dip_rate"] == pytest.approx(rate, abs=1e-12)
    assert out.loc["B2", "n_points"] == np.sum(HOURS >= lag)
    assert out.loc["B3", "first_h"] == 0.0
    assert out.loc["B3", "dip_rate"] > rate  # the flat start pulls the whole-course slope up


def _slow_reference(t, count, min_points=3):
    """Thunor's fallback loop (``thunor.dip._expt_dip`` with a selector function)."""
    y = np.log2(count)
    best, chosen = -np.inf, None
    for i in range(t.size - min_points + 1):
        fit = scipy.stats.linregress(t[i:], y[i:])
        n = t.size - i
        adj = 1 - (1 - fit.rvalue**2) * (n - 1) / (n - 2)
        rmse = np.linalg.norm(fit.intercept + fit.slope * t[i:] - y[i:]) / np.sqrt(n)
        score = tyson1(adj, rmse, n)
        if score > best:
            best, chosen = score, (fit.slope, fit.stderr, t[i], n)
    return chosen


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("min_points", [3, 5])
def test_window_choice_matches_slow_reference(seed, min_points):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 120, 30))
    lag = rng.uniform(5, 60)
    log2n = 7 + 0.04 * np.minimum(t, lag) + rng.uniform(-0.05, 0.03) * np.maximum(t - lag, 0)
    count = 2.0 ** (log2n + rng.normal(0, 0.05, t.size))
    row = dip_rates(_wells({"C4": count}, times=t, treatment="drug"), min_points=min_points)
    slope, se, first, n = _slow_reference(t, count, min_points)
    assert row.loc[0, "first_h"] == first
    assert row.loc[0, "n_points"] == n
    assert row.loc[0, "dip_rate"] == pytest.approx(slope, rel=1e-9, abs=1e-12)
    assert row.loc[0, "dip_se"] == pytest.approx(se, rel=1e-9)


def test_output_columns_order_and_plate_map():
    t = np.arange(0.0, 10.0)
    growth = _wells({"B10": 2.0**t, "B2": 2.0 ** (t / 2)}, times=t, treatment="untreated",
                    cell_line="M420", dose=np.nan, dose_unit="ng/ml")  # fmt: skip
    growth["pct_change"] = 0.0
    out = dip_rates(growth)
    expected = ["well", "dip_rate", "dip_se", "first_h", "n_points", "r_squared"]
    assert list(out.columns) == [*expected, "treatment", "cell_line", "dose", "dose_unit"]
    assert out["well"].tolist() == ["B2", "B10"]
    assert out["dip_rate"].tolist() == pytest.approx([0.5, 1.0])


def test_non_positive_and_missing_counts_are_left_out_with_a_warning():
    t = np.arange(0.0, 8.0)
    count = 10 * 2.0**t
    count[2], count[5] = 0.0, np.nan
    with pytest.warns(IncugrowthWarning, match="B7"):
        row = dip_rates(_wells({"B7": count}, times=t, treatment="untreated")).iloc[0]
    assert row["n_points"] == 6
    assert row["dip_rate"] == pytest.approx(1.0, abs=1e-12)


def test_few_points_use_all_of_them_and_one_point_gives_nan():
    growth = _wells({"B2": [10.0, 40.0]}, times=np.array([0.0, 2.0]), treatment="drug")
    growth = pd.concat([growth, _wells({"B3": [5.0]}, times=np.array([0.0]), treatment="drug")])
    out = dip_rates(growth).set_index("well")
    assert out.loc["B2", "dip_rate"] == pytest.approx(1.0)
    assert np.isnan(out.loc["B2", "dip_se"])
    assert out.loc["B3", "n_points"] == 1 and np.isnan(out.loc["B3", "dip_rate"])


def test_several_control_names():
    log2n = 5 + np.where(HOURS < 24, 0.0, 0.05 * (HOURS - 24))
    growth = _wells({"B2": 2.0**log2n}, treatment="Lipofectamine")
    assert dip_rates(growth).loc[0, "first_h"] == 24.0
    as_control = dip_rates(growth, control=["untreated", "Lipofectamine"])
    assert as_control.loc[0, "first_h"] == 0.0


def test_bad_arguments():
    growth = _wells({"B2": 2.0**HOURS}, treatment="drug")
    with pytest.raises(ValueError, match="min_points"):
        dip_rates(growth, min_points=2)
    with pytest.raises(ValueError, match="treatment"):
        dip_rates(growth.drop(columns="treatment"))


# --------------------------------------------------------------------------- GR values

DAY = np.array([0.0, 24.0, 48.0, 72.0])
CONTROL = 100 * 2.0 ** (DAY / 24)  # doubles every day


def _gr_growth(treated: dict[str, np.ndarray], *, control=CONTROL, dose=1.0) -> pd.DataFrame:
    counts = {"B2": control, "B3": control, **treated}
    treatment = {w: ("untreated" if w in ("B2", "B3") else "drug") for w in counts}
    doses = {w: (np.nan if w in ("B2", "B3") else dose) for w in counts}
    return _wells(counts, times=DAY, cell_line="A", treatment=treatment, dose=doses)


def _treated_gr(growth, **kwargs) -> pd.Series:
    out = gr_values(growth, **kwargs)
    return out[out["treatment"] == "drug"].set_index("elapsed_h")["gr"]


def test_gr_known_answers():
    cases = {
        "equal to control": (CONTROL, 1.0),
        "cytostatic": (np.full(4, 100.0), 0.0),
        "halves every control doubling": (100 * 2.0 ** (-DAY / 24), -0.5),
        "count reaches zero": (np.array([100.0, 0.0, 0.0, 0.0]), -1.0),
    }
    for name, (count, expected) in cases.items():
        gr = _treated_gr(_gr_growth({"C2": count, "C3": count}))
        assert gr.index.tolist() == [24.0, 48.0, 72.0], name
        np.testing.assert_allclose(gr, expected, atol=1e-12, err_msg=name)


def test_gr_tends_to_minus_one_as_the_kill_deepens():
    values = []
    for k in (1, 2, 4, 8, 16):
        count = 100 * 2.0 ** (-k * DAY / 24)
        values.append(_treated_gr(_gr_growth({"C2": count})).loc[72.0])
    np.testing.assert_allclose(values, [2.0**-k - 1 for k in (1, 2, 4, 8, 16)], atol=1e-12)
    assert np.all(np.diff(values) < 0) and values[-1] > -1


def test_gr_columns_and_control_rows():
    out = gr_values(_gr_growth({"C2": np.full(4, 100.0)}))
    assert list(out.columns) == ["cell_line", "treatment", "dose", "elapsed_h", "gr",
                                 "relative_count", "mean_count", "mean_count_t0", "control",
                                 "control_count", "control_doublings", "n_wells"]  # fmt: skip
    ctrl = out[out["treatment"] == "untreated"]
    assert np.all(ctrl["gr"] == 1.0) and np.all(ctrl["n_wells"] == 2)
    assert ctrl["control_doublings"].tolist() == pytest.approx([1.0, 2.0, 3.0])
    drug = out[out["treatment"] == "drug"]
    assert drug["relative_count"].tolist() == pytest.approx([0.5, 0.25, 0.125])


def test_time_zero_per_condition_or_pooled_per_cell_line():
    """Treated wells seeded at twice the density and growing like the control: GR = 1 with
    each population's own time zero; GRmetrics' pooled x0 sees extra growth instead."""
    growth = _gr_growth({"C2": 2 * CONTROL, "C3": 2 * CONTROL})
    np.testing.assert_allclose(_treated_gr(growth), 1.0, atol=1e-12)
    pooled = _treated_gr(growth, time0="cell_line")
    x0 = 150.0  # mean of 100, 100, 200, 200
    for t, gr in pooled.items():
        expected = 2 ** (np.log2(2 * 100 * 2 ** (t / 24) / x0) / np.log2(100 * 2 ** (t / 24) / x0))
        assert gr == pytest.approx(expected - 1)
    assert np.all(pooled > 1)


def test_per_well_gr_against_mean_control():
    growth = _gr_growth({"C2": np.full(4, 100.0), "C3": 100 * 2.0 ** (-DAY / 24)})
    out = gr_values(growth, per_well=True)
    drug = out[out["treatment"] == "drug"].set_index(["well", "elapsed_h"])["gr"]
    np.testing.assert_allclose(drug.loc["C2"], 0.0, atol=1e-12)
    np.testing.assert_allclose(drug.loc["C3"], -0.5, atol=1e-12)
    assert "well" in out.columns and np.all(out["n_wells"] == 1)


def test_gr_uses_the_growth_table_baseline():
    growth = _gr_growth({"C2": np.array([50.0, 100.0, 100.0, 100.0])})
    growth["baseline_h"] = 24.0
    growth["baseline_count"] = growth["well"].map({"B2": 200.0, "B3": 200.0, "C2": 100.0})
    gr = _treated_gr(growth)
    assert gr.index.tolist() == [48.0, 72.0]
    np.testing.assert_allclose(gr, 0.0, atol=1e-12)


def test_gr_empty_where_controls_did_not_grow():
    control = np.array([100.0, 90.0, 200.0, 400.0])
    growth = _gr_growth({"C2": np.full(4, 100.0)}, control=control)
    with pytest.warns(IncugrowthWarning, match="not grown"):
        gr = _treated_gr(growth)
    assert np.isnan(gr.loc[24.0]) and gr.loc[48.0] == pytest.approx(0.0)


def test_gr_without_control_warns():
    growth = _gr_growth({"C2": np.full(4, 100.0)})
    growth.loc[growth["well"] == "C2", "cell_line"] = "B"
    with pytest.warns(IncugrowthWarning, match=r"no control wells \('untreated' for B\)"):
        gr = _treated_gr(growth)
    assert gr.isna().all()


def test_gr_bad_arguments():
    growth = _gr_growth({"C2": CONTROL})
    with pytest.raises(ValueError, match="time0"):
        gr_values(growth, time0="plate")
    with pytest.raises(ValueError, match="dose"):
        gr_values(growth.drop(columns="dose"))


def test_gr_at_chosen_times_only():
    control = np.array([100.0, 90.0, 200.0, 400.0])  # not grown at 24 h: no warning needed
    growth = _gr_growth({"C2": np.full(4, 100.0)}, control=control)
    out = gr_values(growth, times=[72.0])
    assert out["elapsed_h"].unique().tolist() == [72.0]
    assert out.loc[out["treatment"] == "drug", "gr"].tolist() == pytest.approx([0.0])


def test_gr_against_a_vehicle_control():
    """cGAMP is delivered with Lipofectamine: its GR is taken against the vehicle's wells,
    named in ``controls`` or in the plate map's ``control`` column."""
    vehicle = 100 * 2.0 ** (DAY / 48)  # the vehicle halves the growth rate
    growth = _gr_growth({"C2": vehicle, "C3": np.full(4, 100.0)})
    growth["treatment"] = growth["treatment"].mask(growth["well"] == "C2", "Lipofectamine")
    growth["treatment"] = growth["treatment"].mask(growth["well"] == "C3", "2'3'-cGAMP")
    by_argument = gr_values(growth, controls={"2'3'-cGAMP": "Lipofectamine"})
    growth["control"] = np.where(growth["treatment"] == "2'3'-cGAMP", "Lipofectamine", "")
    by_column = gr_values(growth)
    for out in (by_argument, by_column):
        at72 = out[out["elapsed_h"] == 72.0].set_index("treatment")
        assert at72.loc["Lipofectamine", "gr"] == pytest.approx(2**0.5 - 1)  # vs untreated
        assert at72.loc["Lipofectamine", "control"] == "untreated"
        assert at72.loc["2'3'-cGAMP", "gr"] == pytest.approx(0.0)
        assert at72.loc["2'3'-cGAMP", "control"] == "Lipofectamine"
        assert at72.loc["2'3'-cGAMP", "control_doublings"] == pytest.approx(1.5)
