"""Kinetics against hand-computed answers."""

import numpy as np
import pandas as pd
import pytest

from incugrowth import kinetics
from incugrowth.errors import IncugrowthError, IncugrowthWarning


def _counts():
    # Two wells, two fields, three times; field 2 of B3 at 24 h failed.
    rows = []
    for well, base in (("B2", 100.0), ("B3", 50.0)):
        for t, factor in ((0.0, 1.0), (24.0, 2.0), (48.0, 4.0)):
            for field, extra in ((1, 0.0), (2, 10.0)):
                rows.append((well, field, t, base * factor + extra, ""))
    df = pd.DataFrame(rows, columns=["well", "field", "elapsed_h", "count", "qc_flag"])
    bad = (df["well"] == "B3") & (df["elapsed_h"] == 24.0) & (df["field"] == 2)
    df.loc[bad, ["count", "qc_flag"]] = [np.nan, "failed_image"]
    return df


def _plate():
    return pd.DataFrame(
        {
            "well": ["B2", "B3"],
            "cell_line": ["M407", "M407"],
            "treatment": ["untreated", "IFN gamma"],
            "dose": [np.nan, 100.0],
            "dose_unit": [np.nan, "ng/ml"],
        }
    )


def test_combine_fields_mean_and_sum():
    mean = kinetics.combine_fields(_counts())
    b2 = mean[mean["well"] == "B2"].set_index("elapsed_h")
    assert b2.loc[0.0, "count"] == 105.0
    assert b2.loc[48.0, "count"] == 405.0
    b3 = mean[mean["well"] == "B3"].set_index("elapsed_h")
    # The failed field is left out, not counted as zero.
    assert b3.loc[24.0, "count"] == 100.0
    assert b3.loc[24.0, "n_fields"] == 1
    assert b3.loc[24.0, "qc_flag"] == "failed_image"
    with pytest.warns(IncugrowthWarning, match=r"1 well sum\(s\) \(B3 at 24 h\)"):
        total = kinetics.combine_fields(_counts(), how="sum")
    total = total.set_index(["well", "elapsed_h"])
    assert total.loc[("B2", 24.0), "count"] == 410.0
    # B3 at 24 h has field 1 (100) only: the sum of two fields is estimated as 2 x 100, not
    # 100, which would read as the well losing half its cells
    assert total.loc[("B3", 24.0), "count"] == 200.0
    assert total.loc[("B3", 48.0), "count"] == 410.0


def test_combine_fields_all_fields_missing_is_missing_not_zero():
    df = pd.DataFrame(
        {"well": ["B2", "B2"], "field": [1, 2], "elapsed_h": [0.0, 0.0], "count": [np.nan] * 2}
    )
    for how in ("mean", "sum"):
        assert np.isnan(kinetics.combine_fields(df, how=how)["count"].iloc[0])


def test_combine_fields_rejects_unknown_method():
    with pytest.raises(ValueError, match="`how` must be"):
        kinetics.combine_fields(_counts(), how="median")


def test_percent_change_first_time_point_and_explicit_baseline():
    wells = kinetics.combine_fields(_counts())
    pc = kinetics.percent_change(wells)
    b2 = pc[pc["well"] == "B2"].set_index("elapsed_h")
    assert b2.loc[48.0, "pct_change"] == pytest.approx(100 * (405 / 105 - 1))
    assert b2.loc[0.0, "pct_change"] == 0.0
    pc24 = kinetics.percent_change(wells, baseline_h=23.0)
    b2 = pc24[pc24["well"] == "B2"].set_index("elapsed_h")
    assert b2.loc[24.0, "pct_change"] == 0.0
    assert b2.loc[48.0, "pct_change"] == pytest.approx(100 * (405 / 205 - 1))
    with pytest.raises(IncugrowthError, match="baseline 10"):
        kinetics.percent_change(wells, baseline_h=10.0, tolerance_h=2.0)


def test_percent_change_zero_baseline_warns_and_leaves_nan():
    wc = pd.DataFrame({"well": ["B2"] * 2, "elapsed_h": [0.0, 24.0], "count": [0.0, 10.0]})
    with pytest.warns(IncugrowthWarning, match="B2"):
        pc = kinetics.percent_change(wc)
    assert pc["pct_change"].isna().all()


def test_growth_table_merges_plate_and_reports_unmapped_wells():
    counts = _counts()
    extra = counts[counts["well"] == "B2"].assign(well="H12")
    plate = pd.concat([_plate(), pd.DataFrame({"well": ["C2"], "cell_line": ["M420"]})])
    with pytest.warns(IncugrowthWarning) as record:
        growth = kinetics.growth_table(pd.concat([counts, extra]), plate)
    texts = " ".join(str(w.message) for w in record)
    assert "H12" in texts and "C2" in texts
    assert set(growth["well"]) == {"B2", "B3"}
    assert growth.loc[growth["well"] == "B3", "treatment"].iloc[0] == "IFN gamma"
    assert list(growth.columns[:3]) == ["well", "elapsed_h", "count"]


def test_wells_of_one_condition_seeded_differently_are_pooled_with_a_warning():
    """Two wells of one condition at two seeding densities (as an IncuCyte .PlateMap's
    growth condition or cell-type seeding density says): pooled as replicates, and the
    warning names the setting, the condition and the values; at one density, no warning."""
    import warnings

    plate = _plate().assign(treatment="untreated", dose=np.nan, dose_unit=np.nan)
    plate["seeding_density"] = ["8000", "4000"]
    with pytest.warns(IncugrowthWarning) as record:
        growth = kinetics.growth_table(_counts(), plate)
    said = [str(w.message) for w in record if "seeding_density" in str(w.message)]
    assert len(said) == 1
    assert "1 condition(s) hold wells of different seeding_density" in said[0]
    assert "M407 untreated (8000, 4000)" in said[0] and "pooled as replicates" in said[0]
    curves = kinetics.condition_curves(growth)
    assert (curves["n_wells"] == 2).all()  # still pooled: the analysis goes on

    plate["seeding_density"] = "8000"
    plate["growth_condition"] = ["10% FBS", "10% FBS"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", IncugrowthWarning)
        kinetics.growth_table(_counts(), plate)


def test_growth_table_without_any_mapped_well_is_an_error():
    plate = pd.DataFrame({"well": ["A1"], "cell_line": ["x"], "treatment": ["untreated"]})
    with pytest.warns(IncugrowthWarning), pytest.raises(IncugrowthError, match="plate map"):
        kinetics.growth_table(_counts(), plate)


def test_condition_curves_sd_sem_match_numpy():
    rng = np.random.default_rng(3)
    vals = rng.normal(300, 40, size=(4, 3))
    rows = []
    for ti, t in enumerate((0.0, 24.0, 48.0, 72.0)):
        for w in range(3):
            rows.append(("M407", "untreated", np.nan, f"B{w + 2}", t, vals[ti, w]))
    g = pd.DataFrame(
        rows, columns=["cell_line", "treatment", "dose", "well", "elapsed_h", "pct_change"]
    )
    curves = kinetics.condition_curves(g)
    assert len(curves) == 4
    np.testing.assert_allclose(curves["mean"], vals.mean(axis=1))
    np.testing.assert_allclose(curves["sd"], vals.std(axis=1, ddof=1))
    np.testing.assert_allclose(curves["sem"], vals.std(axis=1, ddof=1) / np.sqrt(3))
    assert (curves["n_wells"] == 3).all()


def test_condition_curves_single_well_has_no_sd():
    g = pd.DataFrame(
        {
            "cell_line": ["A"],
            "treatment": ["x"],
            "dose": [1.0],
            "elapsed_h": [0.0],
            "pct_change": [5.0],
        }
    )
    c = kinetics.condition_curves(g)
    assert c["n_wells"].iloc[0] == 1 and np.isnan(c["sd"].iloc[0]) and np.isnan(c["sem"].iloc[0])


def test_endpoint_nearest_time_and_tolerance():
    g = pd.DataFrame(
        {
            "well": ["B2"] * 4,
            "elapsed_h": [0.0, 68.0, 76.5, 96.0],
            "pct_change": [0.0, 1.0, 2.0, 3.0],
        }
    )
    end = kinetics.endpoint(g, 72)
    assert end["endpoint_h"].tolist() == [68.0]
    with pytest.raises(IncugrowthError, match="within 1"):
        kinetics.endpoint(g, 72, tolerance_h=1)


def test_endpoint_missing_well_value_warns():
    g = pd.DataFrame({"well": ["B2", "B3"], "elapsed_h": [72.0, 72.0], "pct_change": [1.0, np.nan]})
    with pytest.warns(IncugrowthWarning, match="B3"):
        kinetics.endpoint(g)


def test_growth_rates_known_doubling_and_window():
    t = np.arange(0.0, 97.0, 4.0)
    # Doubling every 20 h until 48 h, then flat: the window picks the exponential phase.
    counts = np.where(t <= 48, 100 * 2 ** (t / 20), 100 * 2 ** (48 / 20))
    g = pd.DataFrame({"well": "C3", "elapsed_h": t, "count": counts, "cell_line": "M420"})
    early = kinetics.growth_rates(g, end_h=48)
    assert early["doubling_time_h"].iloc[0] == pytest.approx(20.0)
    assert early["rate_per_h"].iloc[0] == pytest.approx(np.log(2) / 20)
    assert early["rate_se"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert early["n_points"].iloc[0] == 13
    assert early["cell_line"].iloc[0] == "M420"
    whole = kinetics.growth_rates(g)
    assert whole["doubling_time_h"].iloc[0] > 20.0
    assert whole["r_squared"].iloc[0] < 1.0


def test_growth_rates_matches_numpy_polyfit_with_noise():
    rng = np.random.default_rng(0)
    t = np.arange(0.0, 73.0, 6.0)
    y = 150 * np.exp(0.03 * t) * rng.lognormal(0, 0.05, t.size)
    g = pd.DataFrame({"well": "B2", "elapsed_h": t, "count": y})
    res = kinetics.growth_rates(g)
    slope = np.polyfit(t, np.log(y), 1)[0]
    assert res["rate_per_h"].iloc[0] == pytest.approx(slope, rel=1e-10)


def test_shrinking_well_has_no_doubling_time():
    g = pd.DataFrame({"well": "B2", "elapsed_h": [0.0, 24.0, 48.0], "count": [100.0, 80, 60]})
    res = kinetics.growth_rates(g)
    assert res["rate_per_h"].iloc[0] < 0 and np.isnan(res["doubling_time_h"].iloc[0])


def test_normalize_to_control_per_cell_line_and_time():
    g = pd.DataFrame(
        {
            "cell_line": ["A", "A", "A", "B"],
            "treatment": ["untreated", "untreated", "x", "x"],
            "elapsed_h": [72.0] * 4,
            "count": [100.0, 300.0, 50.0, 10.0],
        }
    )
    with pytest.warns(IncugrowthWarning, match="cell_line B"):
        out = kinetics.normalize_to_control(g)
    assert out["pct_of_control"].iloc[:3].tolist() == [50.0, 150.0, 25.0]
    assert np.isnan(out["pct_of_control"].iloc[3])


def test_percent_change_missing_first_count_is_not_taken_from_a_later_time():
    # B3's first image failed. Measured from its 24 h count, B3 (same growth as B2) would read
    # +100 % at 48 h against B2's +300 %; every well shares the plate's baseline instead.
    wc = pd.DataFrame(
        {
            "well": ["B2"] * 3 + ["B3"] * 3,
            "elapsed_h": [0.0, 24.0, 48.0] * 2,
            "count": [100.0, 200.0, 400.0, np.nan, 200.0, 400.0],
        }
    )
    with pytest.warns(
        IncugrowthWarning, match=r"at 0 h for well\(s\) B3: .*`baseline_h`, --baseline"
    ):
        pc = kinetics.percent_change(wc)
    assert pc["baseline_h"].eq(0.0).all()
    assert pc.loc[pc["well"] == "B2", "pct_change"].tolist() == [0.0, 100.0, 300.0]
    assert pc.loc[pc["well"] == "B3", "pct_change"].isna().all()
    later = kinetics.percent_change(wc, baseline_h=24.0)
    assert later["pct_change"].tolist()[1:3] == [0.0, 100.0]
    assert later["pct_change"].tolist()[4:] == [0.0, 100.0]


def test_percent_change_explicit_baseline_is_one_plate_time_and_ties_go_earlier():
    wc = pd.DataFrame(
        {
            "well": ["B2"] * 3 + ["B3"] * 2,
            "elapsed_h": [0.0, 2.0, 24.0, 2.0, 24.0],
            "count": [100.0, 110.0, 300.0, np.nan, 300.0],
        }
    )
    # 1 h is as far from 0 h as from 2 h: the earlier scan; B3 has no count there
    with pytest.warns(IncugrowthWarning, match="at 0 h for well.* B3"):
        pc = kinetics.percent_change(wc, baseline_h=1.0)
    assert pc.loc[2, "pct_change"] == pytest.approx(200.0)
    with pytest.warns(IncugrowthWarning, match="at 2 h for well.* B3"):
        pc = kinetics.percent_change(wc, baseline_h=2.0)
    assert pc.loc[2, "pct_change"] == pytest.approx(100 * (300 / 110 - 1))
    with pytest.raises(IncugrowthError, match="nearest with a count: 2 h"):
        kinetics.percent_change(wc, baseline_h=8.0)


def test_endpoint_well_without_the_scan_is_named():
    # D4 was not imaged at 72 h (its row is absent, not NaN): it used to vanish silently
    g = pd.DataFrame(
        {
            "well": ["B2", "B2", "C3", "C3", "D4", "D4"],
            "elapsed_h": [0.0, 72.0, 0.0, 72.0, 0.0, 68.0],
            "pct_change": [0.0, 100.0, 0.0, np.nan, 0.0, 90.0],
        }
    )
    with pytest.warns(IncugrowthWarning, match=r"\(72 h\) for well\(s\) C3, D4"):
        end = kinetics.endpoint(g, 72)
    assert end["well"].tolist() == ["B2", "C3"]


def test_endpoint_ties_go_to_the_earlier_scan_and_failed_scans_are_passed_over():
    g = pd.DataFrame(
        {
            "well": ["B2"] * 4,
            "elapsed_h": [0.0, 70.0, 74.0, 96.0],
            "pct_change": [0.0, 1.0, 2.0, 3.0],
        }
    )
    assert kinetics.endpoint(g, 72)["endpoint_h"].tolist() == [70.0]
    # the 70 h scan failed for every well: 74 h is the nearest scan with values
    failed = g.assign(pct_change=[0.0, np.nan, 2.0, 3.0])
    assert kinetics.endpoint(failed, 72)["pct_change"].tolist() == [2.0]
    with pytest.raises(IncugrowthError, match="no time point with a 'pct_change'"):
        kinetics.endpoint(g.assign(pct_change=np.nan), 72)


def test_growth_rate_matches_r_lm():
    """R: t <- c(0, 4, 8, 12, 24, 30, 48, 72)
    y <- c(1000, 1180, 1290, 1600, 2350, 2700, 4900, 9800)
    f <- summary(lm(log(y) ~ t)); c(f$coefficients[2, 1:2], f$r.squared)
    # 3.16440393062e-02 6.47657615414e-04 9.97492919987e-01
    and without the first point (a zero count at 0 h is left out):
    # 0.031305071936536 0.000678854028886 0.997654294597113
    """
    t = [0.0, 4, 8, 12, 24, 30, 48, 72]
    y = [1000.0, 1180, 1290, 1600, 2350, 2700, 4900, 9800]
    g = pd.DataFrame({"well": "B2", "elapsed_h": t, "count": y})
    row = kinetics.growth_rates(g).iloc[0]
    assert row["rate_per_h"] == pytest.approx(3.16440393062e-02, rel=1e-10)
    assert row["rate_se"] == pytest.approx(6.47657615414e-04, rel=1e-10)
    assert row["r_squared"] == pytest.approx(9.97492919987e-01, rel=1e-10)
    assert row["doubling_time_h"] == pytest.approx(21.9045101623, rel=1e-10)

    zero = pd.DataFrame(
        {
            "well": ["B2"] * 8 + ["C3"] * 2,
            "elapsed_h": [*t, 0.0, 24.0],
            "count": [0.0, *y[1:], 0.0, 0.0],
        }
    )
    with pytest.warns(IncugrowthWarning, match=r"3 zero or negative count.*well\(s\) B2, C3"):
        res = kinetics.growth_rates(zero).set_index("well")
    assert res.loc["B2", "rate_per_h"] == pytest.approx(0.031305071936536, rel=1e-10)
    assert res.loc["B2", "rate_se"] == pytest.approx(0.000678854028886, rel=1e-10)
    assert res.loc["B2", "n_points"] == 7 and res.loc["B2", "start_h"] == 4.0
    # a well with no positive count keeps its row, without a rate
    assert res.loc["C3", "n_points"] == 0 and np.isnan(res.loc["C3", "rate_per_h"])


def test_condition_curves_unequal_wells_match_r_sd():
    """R: x <- c(231.5, 262.25, 198.0); c(mean(x), sd(x), sd(x) / sqrt(3))
    # 230.5833333333 32.1348071930 18.5530395833
    x <- c(231.5, 262.25); c(mean(x), sd(x), sd(x) / sqrt(2))
    # 246.8750000000 21.7435335215 15.3750000000
    """
    # C3 was not imaged at 72 h: that time point has 2 wells, the others 3
    g = pd.DataFrame(
        {
            "cell_line": "M420",
            "treatment": "untreated",
            "dose": np.nan,
            "well": ["B2", "B3", "C3", "B2", "B3"],
            "elapsed_h": [48.0, 48.0, 48.0, 72.0, 72.0],
            "pct_change": [231.5, 262.25, 198.0, 231.5, 262.25],
        }
    )
    curves = kinetics.condition_curves(g)
    assert curves["n_wells"].tolist() == [3, 2]
    np.testing.assert_allclose(curves["mean"], [230.5833333333, 246.875], rtol=1e-11)
    np.testing.assert_allclose(curves["sd"], [32.1348071930, 21.7435335215], rtol=1e-11)
    np.testing.assert_allclose(curves["sem"], [18.5530395833, 15.375], rtol=1e-11)


def test_wells_imaged_minutes_apart_share_each_scan():
    """Clock-time image names put each well of a scan a minute or two after the one before:
    those times are one scan, for the baseline and the endpoint alike (an exact match on
    the first well's time left the other wells without a baseline)."""
    from incugrowth.kinetics import endpoint, percent_change

    rows = []
    for k, well in enumerate(["B2", "B3", "B4"]):
        for scan, count in zip([0.0, 24.0, 48.0, 72.0], [100.0, 200.0, 400.0, 800.0]):
            rows.append({"well": well, "elapsed_h": scan + k / 60, "count": count * (k + 1)})
    growth = percent_change(pd.DataFrame(rows))
    assert growth["pct_change"].tolist() == [0.0, 100.0, 300.0, 700.0] * 3
    assert growth.groupby("well")["baseline_h"].first().round(4).tolist() == [0.0, 0.0167, 0.0333]
    end = endpoint(growth, 72.0)
    assert end["well"].tolist() == ["B2", "B3", "B4"] and (end["pct_change"] == 700.0).all()
    assert (end["endpoint_h"] == 72.0).all()
    # a well whose first scan failed is still not measured from its next scan
    failed = pd.DataFrame(rows).drop(index=4)  # B3 at 0 h
    with pytest.warns(Warning, match="no usable baseline count.*B3"):
        again = percent_change(failed)
    assert again.loc[again["well"] == "B3", "pct_change"].isna().all()


def test_growth_rate_window_reversed_or_outside_the_data_is_not_silent():
    """A window given end first is an error, not a table of empty rates; a window that
    holds fewer than two time points of a well names the wells left without a rate."""
    t = np.arange(0.0, 97.0, 12.0)
    g = pd.DataFrame(
        {"well": np.repeat(["B2", "B3"], t.size), "elapsed_h": np.tile(t, 2),
         "count": np.tile(100 * 2 ** (t / 24), 2)}
    )  # fmt: skip
    with pytest.raises(IncugrowthError, match="window 72 24 h: the start must be before the end"):
        kinetics.growth_rates(g, start_h=72, end_h=24)
    with pytest.raises(IncugrowthError, match="window 24 24 h: .* give an end after 24 h"):
        kinetics.growth_rates(g, start_h=24, end_h=24)
    with pytest.warns(IncugrowthWarning, match=r"no growth rate for 2 of 2 well\(s\) \(B2, B3\)"):
        late = kinetics.growth_rates(g, start_h=100, end_h=120)
    assert late["n_points"].tolist() == [0, 0] and late["rate_per_h"].isna().all()
    with pytest.warns(IncugrowthWarning, match=r"window 90\u2013 h \(imaged 0 to 96 h\)"):
        kinetics.growth_rates(g, start_h=90)
    fit = kinetics.growth_rates(g, start_h=24, end_h=72)  # no warning: every well has a rate
    assert fit["doubling_time_h"].tolist() == pytest.approx([24.0, 24.0])
