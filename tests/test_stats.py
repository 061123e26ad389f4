"""Tests of incugrowth.stats against R (car, emmeans, multcomp, afex) and scipy.

The reference values in tests/data/stats/r_*.csv come from R; regenerate them with::

    Rscript tests/r/stats_reference.R tests/data/stats tests/data/stats

(inputs: tests/data/stats/{endpoint,growth}_{balanced,unbalanced}.csv, written once by
``python tests/data/stats/make_stats_inputs.py``). emmeans/multcomp evaluate the multivariate t
with mvtnorm's randomised integration at its default precision (abseps 1e-3): their own P values
and intervals are compared with matching tolerances, and the ``*_hp`` columns (the same
integrals with 1e6 points, error about 1e-7, and an exact root search) with tight ones.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import integrate, special
from scipy import stats as sps

from incugrowth import stats
from incugrowth.errors import IncugrowthError, IncugrowthWarning
from incugrowth.stats import mvt

DATA = Path(__file__).parent / "data" / "stats"
R_SCRIPT = Path(__file__).parent / "r" / "stats_reference.R"
VEHICLE = {"2'3'-cGAMP": "Lipofectamine"}
TAGS = ["balanced", "unbalanced"]

# tolerances
EXACT = 1e-9  # quantities that do not involve the multivariate t (agreement measured ~1e-13)
P_HP = 2e-6  # adjusted P against R's 1e6-point integration (its error ~1e-7)
CI_HP = 1e-4  # CI bounds against the same, via R's root search on a noisy integral
P_DEFAULT = 2e-3  # adjusted P against emmeans/multcomp at mvtnorm's default abseps = 1e-3
CI_DEFAULT = 0.1  # CI bounds (percent units) against emmeans' qmvt at its default precision


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name)


def endpoint(tag: str) -> pd.DataFrame:
    return read(f"endpoint_{tag}.csv")


def growth(tag: str) -> pd.DataFrame:
    return read(f"growth_{tag}.csv")


def r_anova(name: str) -> pd.DataFrame:
    table = read(name)
    table = table[table["source"] != "(Intercept)"].reset_index(drop=True)
    table["source"] = table["source"].replace({"Residuals": "Residual"})
    return table


# --------------------------------------------------------------------------------------------
# two-way ANOVA against car::Anova


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("ss_type", [2, 3])
def test_two_way_anova_matches_car(tag, ss_type):
    ours = stats.two_way_anova(endpoint(tag), ss_type=ss_type)
    ref = r_anova(f"r_anova_type{ss_type}_{tag}.csv")
    assert list(ours.columns) == stats.ANOVA_COLUMNS
    assert_array_equal(ours["source"], ref["source"])
    assert_array_equal(ours["df"], ref["df"])
    assert_allclose(ours["ss"], ref["ss"], rtol=1e-8)
    assert_allclose(ours["f"], ref["f"], rtol=1e-8)
    assert_allclose(ours["p"], ref["p"], rtol=1e-8, atol=1e-12)
    resid = ref.iloc[-1]
    assert ours.attrs["df_resid"] == resid["df"]
    assert ours.attrs["ms_resid"] == pytest.approx(resid["ss"] / resid["df"], rel=1e-10)
    assert ours.attrs["n"] == len(endpoint(tag))
    eta = ours["ss"][:3] / (ours["ss"][:3] + resid["ss"])
    assert_allclose(ours["partial_eta_sq"][:3], eta, rtol=1e-12)


def test_type2_and_type3_differ_only_when_unbalanced():
    for tag, same in [("balanced", True), ("unbalanced", False)]:
        t2 = stats.two_way_anova(endpoint(tag), ss_type=2)
        t3 = stats.two_way_anova(endpoint(tag), ss_type=3)
        assert np.allclose(t2["ss"], t3["ss"], rtol=1e-10) is same


def test_pinned_type3_row():
    # car::Anova(fit, type = 3) on endpoint_unbalanced.csv, literal values for the record
    table = stats.two_way_anova(endpoint("unbalanced")).set_index("source")
    assert table.loc["cell_line:treatment", "ss"] == pytest.approx(13402.23, abs=0.01)
    assert table.loc["cell_line:treatment", "f"] == pytest.approx(9.406999, abs=1e-6)
    assert table.loc["cell_line:treatment", "p"] == pytest.approx(4.559249e-05, rel=1e-6)
    assert table.loc["Residual", "df"] == 21


@pytest.mark.parametrize(
    ("tag", "ss_total", "pct"),
    [
        ("balanced", 133333.392616, [4.834465567, 77.5548146, 13.67338344, 3.93733639]),
        ("unbalanced", 121800.843649, [4.529743008, 74.33788865, 11.00340079, 4.093962532]),
    ],
)
def test_percent_of_total_variation_is_prisms(tag, ss_total, pct):
    """Rscript tests/r/percent_of_total.R: Prism's "% of total variation" is each term's SS over
    the total SS of the values, 100 * SS / sum((y - mean(y))^2). With a missing well the Type III
    SS add up to 114450.16 only, and dividing by that sum gave treatment 79.11 % instead of
    Prism's 74.34 % (cell line 4.82 instead of 4.53, interaction 11.71 instead of 11.00)."""
    table = stats.two_way_anova(endpoint(tag))
    assert table.attrs["ss_total"] == pytest.approx(ss_total, rel=1e-10)
    assert_allclose(table["pct_total"], pct, rtol=1e-8)
    assert_allclose(table["pct_total"], 100 * table["ss"] / ss_total, rtol=1e-9)
    # balanced: the terms and the residual add up to the total; unbalanced: to 114450.156624
    added = {"balanced": 100.0, "unbalanced": 100 * 114450.156624 / 121800.843649}[tag]
    assert table["pct_total"].sum() == pytest.approx(added, rel=1e-10)


def test_report_shows_prisms_percent_of_total():
    from incugrowth.report import _anova_rows

    table = stats.two_way_anova(endpoint("unbalanced"))
    rows = _anova_rows(table)
    assert [r["pct"] for r in rows] == ["4.53", "74.3", "11.0", "4.09"]
    # an anova.csv written before the column existed: left blank rather than guessed
    assert {r["pct"] for r in _anova_rows(table.drop(columns="pct_total"))} == {""}


def test_one_way_percent_of_total_adds_up():
    one = endpoint("unbalanced").query("cell_line == 'M464'")
    table = stats.endpoint_statistics(one)["anova"]
    assert list(table.columns) == stats.ANOVA_COLUMNS
    assert table["pct_total"].sum() == pytest.approx(100, rel=1e-12)


# --------------------------------------------------------------------------------------------
# Dunnett against emmeans / multcomp


def compare_with_r(ours: pd.DataFrame, ref: pd.DataFrame, by: str) -> None:
    assert_array_equal(ours[by], ref[by])
    assert_array_equal(ours["treatment"], ref["treatment"])
    assert_array_equal(ours["control"], ref["control"])
    assert_allclose(ours["mean_diff"], ref["estimate"], atol=EXACT)
    assert_allclose(ours["se"], ref["se"], atol=EXACT)
    assert_allclose(ours["t"], ref["t"], atol=EXACT)
    assert_array_equal(ours["df"], ref["df"])
    assert_allclose(ours["p_adj"], ref["p_emmeans"], atol=P_DEFAULT)
    assert_allclose(ours["ci_low"], ref["lower_emmeans"], atol=CI_DEFAULT)
    assert_allclose(ours["ci_high"], ref["upper_emmeans"], atol=CI_DEFAULT)
    assert_allclose(ours["p_adj"], ref["p_hp"], atol=P_HP)
    assert_allclose(ours["ci_low"], ref["lower_hp"], atol=CI_HP)
    assert_allclose(ours["ci_high"], ref["upper_hp"], atol=CI_HP)
    crit = (ours["mean_diff"] - ours["ci_low"]) / ours["se"]
    finite = np.isfinite(crit)
    assert_allclose(crit[finite], ref["crit_hp"][finite], atol=1e-5)


@pytest.mark.parametrize("tag", TAGS)
def test_dunnett_matches_emmeans(tag):
    ours = stats.dunnett(endpoint(tag))
    assert list(ours.columns) == ["cell_line", *stats.DUNNETT_COLUMNS]
    compare_with_r(ours, read(f"r_dunnett_{tag}.csv"), "cell_line")
    assert_array_equal(ours["stars"], stats.stars(ours["p_adj"]))


@pytest.mark.parametrize("tag", TAGS)
def test_dunnett_with_vehicle_control_matches_emmeans(tag):
    # one family per cell line: IFN gamma and Lipofectamine vs untreated, cGAMP vs Lipofectamine
    ours = stats.dunnett(endpoint(tag), controls=VEHICLE)
    compare_with_r(ours, read(f"r_dunnett_controls_{tag}.csv"), "cell_line")
    cgamp = ours[ours["treatment"] == "2'3'-cGAMP"]
    assert set(cgamp["control"]) == {"Lipofectamine"}


@pytest.mark.parametrize("tag", TAGS)
def test_one_sided_dunnett_matches_emmeans(tag):
    ours = stats.dunnett(endpoint(tag), alternative="less")
    assert np.isneginf(ours["ci_low"]).all()
    compare_with_r(ours, read(f"r_dunnett_less_{tag}.csv"), "cell_line")


def test_dunnett_matches_multcomp_glht_on_cell_means_model():
    ours = stats.dunnett(endpoint("unbalanced"))
    ours = ours[ours["cell_line"] == "M464"].reset_index(drop=True)
    ref = read("r_glht_M464_unbalanced.csv")
    assert_allclose(ours["mean_diff"], ref["estimate"], atol=EXACT)
    assert_allclose(ours["se"], ref["se"], atol=EXACT)
    assert_allclose(ours["t"], ref["t"], atol=EXACT)
    assert_array_equal(ours["df"], ref["df"])
    assert_allclose(ours["p_adj"], ref["p_glht"], atol=P_HP)
    crit = (ours["mean_diff"] - ours["ci_low"]) / ours["se"]
    assert_allclose(crit, ref["crit_glht"], rtol=1e-3)  # qmvt's own tolerance


def test_pinned_dunnett_row():
    # emmeans: M464, IFN gamma - untreated, unbalanced design (control group of 2 wells)
    row = stats.dunnett(endpoint("unbalanced")).iloc[3]
    assert (row["cell_line"], row["treatment"], row["n_control"]) == ("M464", "IFN gamma", 2)
    assert row["mean_diff"] == pytest.approx(-4.710000, abs=1e-6)
    assert row["se"] == pytest.approx(14.066848, abs=1e-6)
    assert row["t"] == pytest.approx(-0.334830, abs=1e-6)
    assert row["df"] == 21
    assert row["p_adj"] == pytest.approx(0.97027, abs=1e-4)
    assert row["stars"] == "NS"


@pytest.mark.parametrize("tag", TAGS)
def test_growth_curve_layout_matches_emmeans(tag):
    # Prism's growth-curve layout: one cell line, time x treatment, a family per time point
    ours = stats.dunnett(growth(tag), by="elapsed_h")
    assert list(ours.columns) == ["elapsed_h", *stats.DUNNETT_COLUMNS]
    assert ours["elapsed_h"].dtype == float
    assert sorted(set(ours["elapsed_h"])) == sorted(set(growth(tag)["elapsed_h"]))
    compare_with_r(ours, read(f"r_curve_dunnett_{tag}.csv"), "elapsed_h")


# --------------------------------------------------------------------------------------------
# repeated measures against afex / aov


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("ss_type", [2, 3])
def test_rm_anova_matches_afex(tag, ss_type):
    ours = stats.rm_two_way_anova(growth(tag), ss_type=ss_type).set_index("source")
    ref = read(f"r_rm_anova_type{ss_type}_{tag}.csv")
    terms = ["treatment", "elapsed_h", "treatment:elapsed_h"]
    got = ours.loc[terms]
    assert_allclose(got["ss"], ref["ss"], rtol=1e-8)
    assert_array_equal(got["df"], ref["df"])
    assert_allclose(got["f"], ref["f"], rtol=1e-8)
    assert_allclose(got["p"], ref["p"], rtol=1e-8, atol=1e-14)
    assert_allclose(got["eps_gg"][1:], ref["eps_gg"][1:], rtol=1e-8)
    assert_allclose(got["p_gg"], ref["p_gg"], rtol=1e-8, atol=1e-14)
    assert ours.loc["well", "ss"] == pytest.approx(ref["error_ss"][0], rel=1e-10)
    assert ours.loc["well", "df"] == ref["error_df"][0]
    assert ours.loc["Residual", "ss"] == pytest.approx(ref["error_ss"][1], rel=1e-10)
    assert ours.loc["Residual", "df"] == ref["error_df"][1]
    assert 1 / 5 <= ours.attrs["eps_gg"] < 1  # correlated wells: sphericity does not hold


def test_rm_anova_matches_aov_error_strata():
    ours = stats.rm_two_way_anova(growth("balanced")).set_index("source")
    ref = read("r_rm_aov_balanced.csv")
    names = {"Residuals": None, "time": "elapsed_h", "treatment:time": "treatment:elapsed_h"}
    for _, row in ref.iterrows():
        source = names.get(row["source"], row["source"])
        if source is None:
            source = "well" if row["stratum"] == "Error: well" else "Residual"
        assert ours.loc[source, "ss"] == pytest.approx(row["ss"], rel=1e-10)
        assert ours.loc[source, "df"] == row["df"]


@pytest.mark.parametrize("tag", TAGS)
def test_dunnett_over_time_uses_prism_ms_within_cells(tag):
    rm = stats.rm_two_way_anova(growth(tag))
    ss = rm.set_index("source")["ss"]
    df = rm.set_index("source")["df"]
    within_cells = (ss["well"] + ss["Residual"]) / (df["well"] + df["Residual"])
    assert rm.attrs["ms_within_cells"] == pytest.approx(within_cells, rel=1e-12)
    res = stats.dunnett(growth(tag), by="elapsed_h")
    assert res.attrs["ms_resid"] == pytest.approx(within_cells, rel=1e-12)
    assert res.attrs["df_resid"] == df["well"] + df["Residual"]


def test_baseline_time_is_left_out_of_the_growth_curve_statistics():
    """Percent change is 0 in every well at the baseline. Kept in the time x treatment model it
    adds 12 residual df without variance: R, emmeans on lm(pct_change ~ time * treatment) with
    the 0 h rows, gives df 56 and IFN gamma vs untreated at 24 h P = 0.0079 (**) instead of
    df 48 and P = 0.0157 (*). Without it the results are the pinned R values."""
    data = growth("balanced")
    baseline = data.drop_duplicates("well").assign(elapsed_h=0.0, pct_change=0.0)
    line = pd.concat([baseline, data], ignore_index=True)
    flat = r"left out elapsed_h 0 \(all 0\): every row has the same 'pct_change'"
    with pytest.warns(IncugrowthWarning, match=flat):
        ours = stats.dunnett(line, by="elapsed_h")
    assert ours.attrs["df_resid"] == 48
    compare_with_r(ours, read("r_curve_dunnett_balanced.csv"), "elapsed_h")
    with pytest.warns(IncugrowthWarning, match=flat):
        rm = stats.rm_two_way_anova(line).set_index("source")
    ref = read("r_rm_anova_type3_balanced.csv")
    assert_allclose(rm.loc[["treatment", "elapsed_h"], "f"], ref["f"][:2], rtol=1e-8)
    assert_allclose(rm.loc["elapsed_h", "eps_gg"], ref["eps_gg"][1], rtol=1e-8)
    with pytest.warns(IncugrowthWarning, match=flat):
        two = stats.two_way_anova(line, factors=("elapsed_h", "treatment"))
    assert two.attrs["df_resid"] == 48
    # a baseline that varies at all is kept
    varied = line.assign(pct_change=line["pct_change"] + 1e-9 * line.index)
    assert stats.dunnett(varied, by="elapsed_h").attrs["df_resid"] == 56


def test_a_treatment_with_one_value_in_every_well_is_data():
    """A treatment that kills every cell is -100 % in every well: unlike the baseline time,
    it is kept in the ANOVA (3 treatment levels: df 2, residual df 12, as in R's
    anova(lm(pct_change ~ cell_line * treatment)) on these 18 rows)."""
    rng = np.random.default_rng(3)
    rows = [
        {"cell_line": line, "treatment": t, "pct_change": v}
        for line in ("A", "B")
        for t in ("untreated", "drug", "kill")
        for v in ([-100.0] * 3 if t == "kill" else 50 + 20 * rng.standard_normal(3))
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = stats.two_way_anova(pd.DataFrame(rows), factors=("cell_line", "treatment"))
    assert table.set_index("source").loc["treatment", "df"] == 2
    assert table.attrs["df_resid"] == 12


def test_rm_anova_drops_incomplete_wells_and_checks_layout():
    data = growth("balanced")
    gap = data.drop(index=data.index[(data["well"] == "F4") & (data["elapsed_h"] == 36)])
    with pytest.warns(IncugrowthWarning, match="F4"):
        table = stats.rm_two_way_anova(gap)
    assert table.attrs["n_subjects"] == 11
    without = stats.rm_two_way_anova(data[data["well"] != "F4"])
    assert_allclose(table["ss"], without["ss"], rtol=1e-12)

    moved = data.copy()
    moved.loc[(moved["well"] == "E2") & (moved["elapsed_h"] == 72), "treatment"] = "IFN gamma"
    with pytest.raises(IncugrowthError, match="'E2' appears under more than one treatment"):
        stats.rm_two_way_anova(moved)
    with pytest.raises(IncugrowthError, match="more than one row"):
        stats.rm_two_way_anova(pd.concat([data, data.iloc[:1]]))


# --------------------------------------------------------------------------------------------
# unpooled: one-way Dunnett within each level equals scipy.stats.dunnett


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_unpooled_equals_scipy_dunnett(alternative):
    data = endpoint("unbalanced")
    ours = stats.dunnett(data, pooled=False, alternative=alternative)
    for line, sub in data.groupby("cell_line", sort=False):
        rows = ours[ours["cell_line"] == line]
        groups = {t: g["pct_change"].to_numpy() for t, g in sub.groupby("treatment", sort=False)}
        treatments = [t for t in groups if t != "untreated"]
        ref = sps.dunnett(
            *[groups[t] for t in treatments],
            control=groups["untreated"],
            alternative=alternative,
            rng=np.random.default_rng(12345),
        )
        assert_array_equal(rows["treatment"], treatments)
        assert_allclose(rows["t"], ref.statistic, atol=1e-12)
        assert_array_equal(rows["df"], sum(map(len, groups.values())) - len(groups))
        # scipy integrates by randomised QMC with 1000 points per dimension: its own error is
        # up to 1.7e-4 over seeds (9e-5 at this one); the exact checks are further down
        assert_allclose(rows["p_adj"], ref.pvalue, atol=3e-4)
        # scipy's interval: the same formula with a critical value from a minimiser at
        # tol=1e-3 on a noisy objective; compare the bounds at that precision
        ci = ref.confidence_interval(0.95)
        for ours_bound, ref_bound in [(rows["ci_low"], ci.low), (rows["ci_high"], ci.high)]:
            ours_bound, ref_bound = np.asarray(ours_bound), np.asarray(ref_bound, float)
            assert_array_equal(np.isinf(ours_bound), np.isinf(ref_bound))
            finite = np.isfinite(ref_bound)
            assert_allclose(ours_bound[finite], ref_bound[finite], atol=0.05)


def test_unpooled_p_and_critical_value_under_scipy_multivariate_t():
    # our P values and critical value, checked with scipy's own multivariate t at 5e5 points
    data = endpoint("unbalanced")
    ours = stats.dunnett(data, pooled=False)
    rows = ours[ours["cell_line"] == "M464"]
    n0, n = rows["n_control"].iloc[0], rows["n_treatment"].to_numpy()
    rho = 1 / np.sqrt(np.outer(n0 / n + 1, n0 / n + 1))
    np.fill_diagonal(rho, 1)
    crit = ((rows["mean_diff"] - rows["ci_low"]) / rows["se"]).iloc[0]
    mvt = sps.multivariate_t(shape=rho, df=int(rows["df"].iloc[0]))
    k = len(n)
    cover = mvt.cdf(
        np.full(k, crit),
        lower_limit=np.full(k, -crit),
        maxpts=500_000,
        random_state=np.random.default_rng(1),
    )
    assert cover == pytest.approx(0.95, abs=3e-6)  # scipy's QMC error ~1e-6 at 5e5 points
    for t, p in zip(rows["t"], rows["p_adj"], strict=True):
        q = abs(t)
        inside = mvt.cdf(
            np.full(k, q),
            lower_limit=np.full(k, -q),
            maxpts=500_000,
            random_state=np.random.default_rng(2),
        )
        assert p == pytest.approx(1 - inside, abs=3e-6)


def test_unpooled_skips_single_well_groups():
    data = endpoint("unbalanced")
    one = data.drop(
        index=data.index[(data["cell_line"] == "M420") & (data["treatment"] == "IFN gamma")][:1]
    )
    with pytest.warns(
        IncugrowthWarning, match=r"cell_line 'M420': left out 'IFN gamma' \(1 well\)"
    ):
        res = stats.dunnett(one, pooled=False)
    m420 = res[res["cell_line"] == "M420"]
    assert list(m420["treatment"]) == ["Lipofectamine", "2'3'-cGAMP"]
    assert (res[res["cell_line"] != "M420"]["n_treatment"] >= 2).all()


# --------------------------------------------------------------------------------------------
# the multivariate t integral


def nested_dunnett_probability(c, n_control, n_treatment, df):
    """P(all |T_i| <= c) for many-to-one comparisons (Dunnett 1955), nested adaptive quadrature."""
    n = np.asarray(n_treatment, float)
    lam = np.sqrt(n / (n + n_control))
    s1 = np.sqrt(1 - lam**2)

    def given_scale(s):
        def f(z):
            inside = special.ndtr((c * s + lam * z) / s1) - special.ndtr((-c * s + lam * z) / s1)
            return np.prod(inside) * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)

        return integrate.quad(f, -9, 9, epsabs=1e-13, epsrel=1e-11, limit=100)[0]

    density = sps.chi(df, scale=1 / np.sqrt(df)).pdf
    hi = sps.chi(df, scale=1 / np.sqrt(df)).isf(1e-14)
    return integrate.quad(lambda s: given_scale(s) * density(s), 0, hi, epsabs=1e-12, limit=100)[0]


@pytest.mark.parametrize(
    ("n_control", "n_treatment", "df", "c"),
    [(3, [3, 2, 3], 24, 2.2), (5, [2, 10], 200, 2.5), (2, [3, 3], 3, 4.0), (3, [3], 1, 5)],
)
def test_forest_probability_equals_nested_quadrature(n_control, n_treatment, df, c):
    variances = {"ctrl": 1 / n_control} | {i: 1 / n for i, n in enumerate(n_treatment)}
    edges = [(i, "ctrl") for i in range(len(n_treatment))]
    se = np.array([np.sqrt(variances[i] + variances["ctrl"]) for i, _ in edges])
    if len(edges) > 1:
        got = mvt._forest_prob(variances, edges, -c * se, c * se, df)
    else:
        got = 1 - 2 * sps.t.sf(c, df)
    assert got == pytest.approx(
        nested_dunnett_probability(c, n_control, n_treatment, df), abs=1e-10
    )


def test_forest_probability_of_a_chain_equals_scipy_multivariate_t():
    # untreated <- Lipofectamine <- cGAMP, plus two interferons: not a product correlation
    n = {"u": 2, "a": 3, "b": 3, "L": 3, "g": 2}
    edges = [("a", "u"), ("b", "u"), ("L", "u"), ("g", "L")]
    variances = {k: 1 / v for k, v in n.items()}
    groups = list(n)
    contrast = np.zeros((len(edges), len(groups)))
    for i, (t, c) in enumerate(edges):
        contrast[i, groups.index(t)], contrast[i, groups.index(c)] = 1, -1
    cov = contrast @ np.diag([variances[g] for g in groups]) @ contrast.T
    se = np.sqrt(np.diag(cov))
    corr = cov / np.outer(se, se)
    assert corr[2, 3] == pytest.approx(-0.4)  # Lipofectamine shared, with opposite signs
    for c, df in [(2.0, 11), (2.8, 5)]:
        got = mvt._forest_prob(variances, edges, -c * se, c * se, df)
        ref = sps.multivariate_t(shape=corr, df=df).cdf(
            np.full(4, c),
            lower_limit=np.full(4, -c),
            maxpts=500_000,
            random_state=np.random.default_rng(7),
        )
        assert got == pytest.approx(ref, abs=3e-6)  # scipy's QMC error ~1e-6 at 5e5 points


# --------------------------------------------------------------------------------------------
# edge cases


def test_cell_line_without_control_is_skipped_with_warning():
    data = endpoint("balanced")
    lost = data[~((data["cell_line"] == "M464") & (data["treatment"] == "untreated"))]
    with pytest.warns(IncugrowthWarning, match="cell_line 'M464' skipped: no 'untreated' wells"):
        res = stats.dunnett(lost)
    assert list(dict.fromkeys(res["cell_line"])) == ["M420", "M407"]
    # the other cell lines use the pooled error of every remaining cell of the design
    cells = lost.groupby(["cell_line", "treatment"])["pct_change"]
    ss = ((lost["pct_change"] - cells.transform("mean")) ** 2).sum()
    assert res.attrs["df_resid"] == len(lost) - 11
    assert res.attrs["ms_resid"] == pytest.approx(ss / (len(lost) - 11), rel=1e-12)


def test_missing_vehicle_skips_only_its_comparison():
    data = endpoint("balanced")
    lost = data[~((data["cell_line"] == "M407") & (data["treatment"] == "Lipofectamine"))]
    with pytest.warns(
        IncugrowthWarning, match="no 'Lipofectamine' wells to compare .2'3'-cGAMP. with"
    ):
        res = stats.dunnett(lost, controls=VEHICLE)
    m407 = res[res["cell_line"] == "M407"]
    assert list(m407["treatment"]) == ["IFN gamma"]
    assert len(res) == 7


def test_single_well_group_allowed_when_pooled():
    data = endpoint("balanced")
    drop = data.index[(data["cell_line"] == "M420") & (data["treatment"] == "IFN gamma")][:2]
    one = data.drop(index=drop)
    res = stats.dunnett(one)
    row = res[(res["cell_line"] == "M420") & (res["treatment"] == "IFN gamma")].iloc[0]
    assert row["n_treatment"] == 1
    ms = stats.two_way_anova(one).attrs["ms_resid"]
    assert row["se"] == pytest.approx(np.sqrt(ms * (1 + 1 / 3)), rel=1e-12)
    assert row["df"] == len(one) - 12


def test_zero_residual_df_is_an_error():
    data = endpoint("balanced").drop_duplicates(["cell_line", "treatment"])
    message = (
        "every group has one well: no residual variance to test against; "
        "need >= 2 replicate wells in at least one group"
    )
    for call in (stats.dunnett, stats.two_way_anova, stats.endpoint_statistics):
        with pytest.raises(IncugrowthError) as info:
            call(data)
        assert message in str(info.value)


def test_empty_cell_explains_and_keeps_dunnett():
    data = endpoint("unbalanced")
    hole = data[~((data["cell_line"] == "M464") & (data["treatment"] == "IFN gamma"))]
    with pytest.raises(IncugrowthError, match=r"empty cells \('M464' x 'IFN gamma'\)"):
        stats.two_way_anova(hole)
    out = stats.endpoint_statistics(hole)
    assert out["anova"].empty and list(out["anova"].columns) == stats.ANOVA_COLUMNS
    assert any("ANOVA not computed" in m and "empty cells" in m for m in out["messages"])
    assert len(out["dunnett"]) == 8
    # the cell-means model still gives the comparisons, with its pooled error
    full = stats.dunnett(hole)
    assert_allclose(out["dunnett"]["p_adj"], full["p_adj"], rtol=1e-12)


def test_argument_errors():
    data = endpoint("balanced")
    with pytest.raises(IncugrowthError, match="no column 'pct'"):
        stats.dunnett(data, dv="pct")
    with pytest.raises(IncugrowthError, match="no 'Untreated' wells"):
        stats.dunnett(data, control="Untreated")
    with pytest.raises(IncugrowthError, match="cycle"):
        stats.dunnett(data, controls={"untreated": "Lipofectamine"})
    with pytest.raises(IncugrowthError, match="alternative"):
        stats.dunnett(data, alternative="two.sided")
    with pytest.raises(IncugrowthError, match="conf_level"):
        stats.dunnett(data, conf_level=95)
    with pytest.raises(IncugrowthError, match="ss_type"):
        stats.two_way_anova(data, ss_type=1)
    with pytest.raises(IncugrowthError, match="needs >= 2 levels"):
        stats.two_way_anova(data[data["cell_line"] == "M420"])
    text = data.assign(pct_change=data["pct_change"].astype(str).str.replace(".", ",", n=1))
    with pytest.raises(IncugrowthError, match="must hold numbers"):
        stats.dunnett(text)


def test_controls_mapped_to_themselves_are_controls_only():
    data = endpoint("balanced")
    res = stats.dunnett(data, controls={"Lipofectamine": "Lipofectamine", **VEHICLE})
    assert "Lipofectamine" not in set(res["treatment"])
    assert len(res) == 6


def test_missing_values_are_left_out_with_a_warning():
    data = endpoint("balanced")
    data.loc[data["well"] == "C3", "pct_change"] = np.nan
    with pytest.warns(IncugrowthWarning, match=r"left out 1 row.*wells C3"):
        res = stats.dunnett(data)
    assert res.loc[0, "n_treatment"] == 2


def test_results_do_not_depend_on_row_order_and_are_deterministic():
    data = endpoint("unbalanced")
    a = stats.dunnett(data, controls=VEHICLE)
    b = stats.dunnett(data.sample(frac=1, random_state=3), controls=VEHICLE)
    order = ["cell_line", "treatment"]
    pd.testing.assert_frame_equal(
        a.sort_values(order).reset_index(drop=True),
        b.sort_values(order).reset_index(drop=True),
        check_exact=False,
        rtol=1e-12,
    )


def test_stars():
    assert stats.stars(0.00099) == "***"
    assert stats.stars(0.001) == "**"
    assert stats.stars(0.049999) == "*"
    assert stats.stars(0.05) == "NS"
    series = pd.Series([0.2, 1e-5], index=[4, 9])
    out = stats.stars(series)
    assert list(out.index) == [4, 9] and list(out) == ["NS", "***"]


# --------------------------------------------------------------------------------------------
# assumption checks and the endpoint analysis


def test_assumption_checks_known_values():
    data = endpoint("unbalanced")
    checks = stats.assumption_checks(data).set_index("test")
    cells = data.groupby(["cell_line", "treatment"])["pct_change"]
    resid = data["pct_change"] - cells.transform("mean")
    w, p = sps.shapiro(resid)
    assert checks.loc["Shapiro-Wilk (residuals)", "statistic"] == pytest.approx(w, rel=1e-12)
    assert checks.loc["Shapiro-Wilk (residuals)", "p"] == pytest.approx(p, rel=1e-12)
    groups = [g.to_numpy() for _, g in cells]
    f, p = sps.levene(*groups, center="median")
    assert checks.loc["Brown-Forsythe (cells)", "statistic"] == pytest.approx(f, rel=1e-12)
    sds = cells.std()
    ratio = checks.loc["SD ratio (largest/smallest)", "statistic"]
    assert ratio == pytest.approx(sds.max() / sds.min(), rel=1e-12)
    assert ("log" in checks.loc["SD ratio (largest/smallest)", "note"]) is bool(ratio > 3)


@pytest.mark.parametrize(
    ("case", "w", "p_w", "f", "p_f"),
    [
        ("balanced", 0.973642451385, 0.53304099598, 0.466146917632, 0.90622603986),
        ("unbalanced", 0.972350167899, 0.54776050212, 0.419658998446, 0.930495818576),
        # R keeps the single-well cell in leveneTest (F 0.437217520427 on 10 and 18 df); without
        # it, as here, R gives these values
        ("holes", 0.969786122647, 0.553904582063, 0.415654303304, 0.910032439763),
    ],
)
def test_assumption_checks_match_r(case, w, p_w, f, p_f):
    """Rscript tests/r/assumption_checks.R: shapiro.test on the residuals of the two-way model
    and car::leveneTest(center = median) over the cells."""
    data = plate_with_holes() if case == "holes" else endpoint(case)
    checks = stats.assumption_checks(data).set_index("test")
    shapiro, bf = checks.loc["Shapiro-Wilk (residuals)"], checks.loc["Brown-Forsythe (cells)"]
    assert_allclose([shapiro["statistic"], shapiro["p"]], [w, p_w], rtol=1e-8)
    assert_allclose([bf["statistic"], bf["p"]], [f, p_f], rtol=1e-9)


def test_assumption_checks_suggest_log_for_unequal_spread():
    rng = np.random.default_rng(5)
    data = pd.DataFrame(
        {
            "treatment": np.repeat(["untreated", "IFN"], 8),
            "pct_change": np.r_[rng.normal(300, 60, 8), rng.normal(40, 3, 8)],
        }
    )
    checks = stats.assumption_checks(data, factors=["treatment"]).set_index("test")
    assert checks.loc["SD ratio (largest/smallest)", "statistic"] > 3
    assert "log(1 + pct_change/100)" in checks.loc["SD ratio (largest/smallest)", "note"]
    assert checks.loc["Brown-Forsythe (cells)", "p"] < 0.05
    assert "log counts" in checks.loc["Brown-Forsythe (cells)", "note"]


def test_endpoint_statistics_collects_messages_instead_of_raising():
    data = endpoint("balanced")
    lost = data[~((data["cell_line"] == "M407") & (data["treatment"] == "untreated"))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = stats.endpoint_statistics(lost, controls=VEHICLE)
    assert set(out) == {"anova", "dunnett", "checks", "messages"}
    m407 = out["dunnett"][out["dunnett"]["cell_line"] == "M407"]
    assert list(m407["treatment"]) == ["2'3'-cGAMP"]  # against its vehicle, still present
    assert any("M407" in m and "'IFN gamma', 'Lipofectamine'" in m for m in out["messages"])
    # M407 x untreated is an empty cell: no two-way ANOVA, explained
    assert out["anova"].empty
    assert list(out["checks"].columns) == stats.CHECK_COLUMNS


def test_endpoint_statistics_full_design():
    out = stats.endpoint_statistics(endpoint("unbalanced"), controls=VEHICLE)
    assert out["messages"] == []
    pd.testing.assert_frame_equal(out["anova"], stats.two_way_anova(endpoint("unbalanced")))
    ref = read("r_dunnett_controls_unbalanced.csv")
    assert_allclose(out["dunnett"]["p_adj"], ref["p_hp"], atol=P_HP)


def test_endpoint_statistics_one_cell_line_is_one_way():
    data = endpoint("balanced")
    one = data[data["cell_line"] == "M420"]
    out = stats.endpoint_statistics(one)
    assert list(out["anova"]["source"]) == ["treatment", "Residual"]
    f, p = sps.f_oneway(*[g["pct_change"] for _, g in one.groupby("treatment")])
    assert out["anova"].loc[0, "f"] == pytest.approx(f, rel=1e-10)
    assert out["anova"].loc[0, "p"] == pytest.approx(p, rel=1e-8)
    assert "one-way" in out["messages"][0]


def test_endpoint_statistics_raises_when_nothing_can_be_computed():
    data = endpoint("balanced")
    apart = data[
        ((data["cell_line"] == "M420") & (data["treatment"] == "untreated"))
        | ((data["cell_line"] == "M464") & (data["treatment"] == "IFN gamma"))
    ]
    with pytest.raises(IncugrowthError, match="no statistics can be computed"):
        stats.endpoint_statistics(apart)
    alone = data[(data["cell_line"] == "M420") & (data["treatment"] == "untreated")]
    with pytest.raises(IncugrowthError, match="no statistics can be computed"):
        stats.endpoint_statistics(alone)


# --------------------------------------------------------------------------------------------
# a plate as it comes back: holes in the design (tests/r/plate_cases.R)


def plate_with_holes() -> pd.DataFrame:
    """endpoint_unbalanced.csv without M464 x IFN gamma and without well B3 (M420 x IFN gamma
    keeps one well); cells of 3, 2 and 1 wells."""
    data = endpoint("unbalanced")
    lost = ((data["cell_line"] == "M464") & (data["treatment"] == "IFN gamma")) | (
        data["well"] == "B3"
    )
    return data[~lost].reset_index(drop=True)


def test_plate_with_holes_matches_multcomp():
    """Rscript tests/r/plate_cases.R (glht on lm(pct_change ~ 0 + cell); P values and critical
    values from pmvt with 1e6 points, error about 1e-7, which cannot resolve P below 1e-6: there
    R's values fall below the unadjusted P, and ours are held to the bounds every family P
    obeys, unadjusted P <= adjusted P <= k x unadjusted P)."""
    # cell line, treatment, control, estimate, se, t, p_hp (R)
    ref = [
        ("M420", "IFN gamma", "untreated", -123.1666667, 18.72134043, -6.578944873, 9.93507e-06),
        ("M420", "Lipofectamine", "untreated", -23.504, 13.23798677, -1.775496562, 0.228142),
        ("M420", "2'3'-cGAMP", "Lipofectamine", -131.757, 13.23798677, -9.952948454, None),
        ("M464", "Lipofectamine", "untreated", 2.641333333, 14.80051916, 0.1784622084, 0.977661),
        ("M464", "2'3'-cGAMP", "Lipofectamine", -128.4316667, 13.23798677, -9.701752152, None),
        ("M407", "IFN gamma", "untreated", -10.06333333, 13.23798677, -0.7601860846, 0.799231),
        ("M407", "Lipofectamine", "untreated", 5.274333333, 13.23798677, 0.3984241277, 0.960648),
        ("M407", "2'3'-cGAMP", "Lipofectamine", -125.1278333, 14.80051916, -8.454286773, None),
    ]
    crit_hp = {"M420": 2.589479164, "M464": 2.405816959, "M407": 2.5830911}
    ours = stats.dunnett(plate_with_holes(), controls=VEHICLE)
    assert ours.attrs["df_resid"] == 18
    assert ours.attrs["ms_resid"] == pytest.approx(262.866440731, rel=1e-10)
    assert_array_equal(ours["cell_line"], [r[0] for r in ref])
    assert_array_equal(ours["treatment"], [r[1] for r in ref])
    assert_array_equal(ours["control"], [r[2] for r in ref])
    assert_allclose(ours["mean_diff"], [r[3] for r in ref], atol=1e-6)
    assert_allclose(ours["se"], [r[4] for r in ref], atol=1e-7)
    assert_allclose(ours["t"], [r[5] for r in ref], atol=1e-8)
    assert (ours["df"] == 18).all()
    for row, r in zip(ours.itertuples(), ref, strict=True):
        crit = (row.mean_diff - row.ci_low) / row.se
        assert crit == pytest.approx(crit_hp[row.cell_line], abs=1e-5)
        assert row.ci_high - row.mean_diff == pytest.approx(crit * row.se, rel=1e-12)
        if r[6] is not None:
            assert row.p_adj == pytest.approx(r[6], abs=P_HP)
        else:
            k = int((ours["cell_line"] == row.cell_line).sum())
            raw = 2 * sps.t.sf(abs(row.t), 18)
            assert raw <= row.p_adj <= k * raw
    assert_array_equal(ours["stars"], ["***", "NS", "***", "NS", "***", "NS", "NS", "***"])


def test_plate_with_holes_endpoint_statistics_explains_the_missing_anova():
    data = plate_with_holes()
    out = stats.endpoint_statistics(data, controls=VEHICLE)
    assert out["anova"].empty
    assert any("'M464' x 'IFN gamma'" in m for m in out["messages"])
    alone = stats.dunnett(data, controls=VEHICLE)
    assert_allclose(out["dunnett"]["p_adj"], alone["p_adj"], rtol=1e-12)


def test_p_values_far_below_1e6_match_dunnett_integral():
    """Rscript tests/r/plate_cases.R, part 2: Dunnett's (1955) integral of P(max |T_i| > |t|)
    for untreated (3 wells) against IFN gamma (1), Lipofectamine (3), cGAMP (3), df = 18, by
    nested stats::integrate (mvtnorm's absolute error, 1e-7 at best, cannot resolve these)."""
    res = stats.dunnett(plate_with_holes())
    m420 = res[res["cell_line"] == "M420"].set_index("treatment")
    assert m420.loc["IFN gamma", "p_adj"] == pytest.approx(1.028711316e-05, rel=1e-6)
    assert m420.loc["Lipofectamine", "p_adj"] == pytest.approx(0.2247569088, rel=1e-8)
    assert m420.loc["2'3'-cGAMP", "p_adj"] == pytest.approx(2.15241388e-09, rel=1e-5)


# --------------------------------------------------------------------------------------------
# the R oracle, live


@pytest.mark.slow
def test_r_script_reproduces_pinned_values(tmp_path):
    """Rerun tests/r/stats_reference.R (--quick: without the 1e6-point integrals)."""
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not installed")
    probe = subprocess.run(
        ["Rscript", "-e", "library(emmeans); library(multcomp); library(car)"],
        capture_output=True,
        timeout=120,
    )
    if probe.returncode != 0:
        pytest.skip("R packages emmeans, multcomp and car needed")
    subprocess.run(
        ["Rscript", str(R_SCRIPT), str(DATA), str(tmp_path), "--quick"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    for fresh in sorted(tmp_path.glob("r_*.csv")):
        pinned = read(fresh.name)
        fresh = pd.read_csv(fresh)
        assert list(fresh.columns) == list(pinned.columns)
        for col in fresh.columns:
            if col.endswith("_hp"):  # left out in --quick mode
                continue
            if not pd.api.types.is_numeric_dtype(fresh[col]):
                assert_array_equal(fresh[col], pinned[col])
            elif col.startswith(("p_", "lower_", "upper_", "crit_")):  # randomised integrals
                tol = P_DEFAULT if col.startswith("p_") else CI_DEFAULT
                assert_allclose(fresh[col], pinned[col], atol=tol)
            else:
                assert_allclose(fresh[col], pinned[col], rtol=1e-10, atol=1e-14)
