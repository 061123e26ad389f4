"""The block analysis of repeated plates and its mixed-model sensitivity analysis, against R.

The reference values in tests/data/combine/r_*.csv come from R; regenerate them with::

    Rscript tests/r/combine_reference.R tests/data/combine tests/data/combine

(input: tests/data/combine/wells_unbalanced.csv, three plates with a lost well and a condition
missing on one plate, written once by ``python tests/data/combine/make_combine_inputs.py``).
Models: ``lm(mean ~ plate + cell_line * treatment)`` on the plate means with ``contr.sum``,
``car::Anova(type = 3)``, ``emmeans(~ treatment | cell_line)`` with each treatment against its
control, ``adjust = "mvt"``; ``lmer(pct_change ~ cell_line * treatment + (1 | plate) +
(1 | plate:cell_line:treatment), REML = TRUE)`` with ``emmeans(lmer.df = "asymptotic")``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from incugrowth.combine import plate_means
from incugrowth.errors import IncugrowthError, IncugrowthWarning
from incugrowth.stats import mvt
from incugrowth.stats.blocks import block_anova, block_dunnett, plate_agreement
from incugrowth.stats.mixed import mixed_dunnett

DATA = Path(__file__).parent / "data" / "combine"
R_SCRIPT = Path(__file__).parent / "r" / "combine_reference.R"
VEHICLE = {"2'3'-cGAMP": "Lipofectamine"}

EXACT = 1e-9  # no multivariate t involved (agreement measured ~1e-13)
P_HP = 2e-6  # adjusted P against R's 1e6-point integration (our QMC error ~1e-6 here)
CRIT_HP = 1e-5  # critical value against R's root search on the same integrals
P_DEFAULT = 2e-3  # against emmeans at mvtnorm's default precision (abseps 1e-3)
CI_DEFAULT = 0.1  # CI bounds (percent units) against emmeans at its default precision
MIXED_REL = 2e-3  # REML optimum of statsmodels against lme4's (optimizer tolerances)


def wells() -> pd.DataFrame:
    return pd.read_csv(DATA / "wells_unbalanced.csv").assign(endpoint_h=72.0)


def means() -> pd.DataFrame:
    return plate_means(wells())


def test_plate_means_match_r_aggregate():
    ours = means().sort_values(["plate", "cell_line", "treatment"]).reset_index(drop=True)
    ref = pd.read_csv(DATA / "r_plate_means.csv")
    ref = ref.sort_values(["plate", "cell_line", "treatment"]).reset_index(drop=True)
    assert len(ours) == 35  # 3 plates x 12 conditions, one missing on plate 3
    assert_array_equal(
        ours[["plate", "cell_line", "treatment"]], ref[["plate", "cell_line", "treatment"]]
    )
    assert_allclose(ours["mean"], ref["mean"], atol=EXACT)
    assert_allclose(ours["sd"], ref["sd"], atol=EXACT)
    assert_array_equal(ours["n_wells"], ref["n_wells"])
    lost = ours[(ours["plate"] == "plate2") & (ours["cell_line"] == "M420")]
    assert lost.set_index("treatment")["n_wells"]["untreated"] == 2


def test_block_anova_matches_car_type3():
    ours = block_anova(means(), dv="mean")
    ref = pd.read_csv(DATA / "r_block_anova.csv")
    ref = ref[ref["source"] != "(Intercept)"].reset_index(drop=True)
    ref["source"] = ref["source"].replace({"Residuals": "Residual"})
    assert_array_equal(ours["source"], ref["source"])
    assert_allclose(ours["ss"], ref["ss"], rtol=EXACT)
    assert_array_equal(ours["df"], ref["df"])
    assert_allclose(ours["f"][:-1], ref["f"][:-1], rtol=EXACT)
    assert_allclose(ours["p"][:-1], ref["p"][:-1], rtol=1e-7)
    assert ours.attrs["df_resid"] == 21


def test_pinned_block_anova_row():
    # car::Anova(lm(mean ~ plate + cell_line * treatment, contrasts = contr.sum), type = 3)
    row = block_anova(means(), dv="mean").set_index("source").loc["plate"]
    assert row["ss"] == pytest.approx(17982.239304, abs=1e-5)
    assert row["df"] == 2
    assert row["f"] == pytest.approx(63.003079, abs=1e-5)


def test_block_dunnett_matches_emmeans_mvt():
    ours = block_dunnett(means(), dv="mean", controls=VEHICLE)
    ref = pd.read_csv(DATA / "r_block_dunnett.csv")
    assert_array_equal(
        ours[["cell_line", "treatment", "control"]], ref[["cell_line", "treatment", "control"]]
    )
    assert_allclose(ours["mean_diff"], ref["estimate"], atol=EXACT)
    assert_allclose(ours["se"], ref["se"], atol=EXACT)
    assert_allclose(ours["t"], ref["t"], atol=EXACT)
    assert_array_equal(ours["df"], ref["df"])
    assert_allclose(ours["p_adj"], ref["p_emmeans"], atol=P_DEFAULT)
    assert_allclose(ours["ci_low"], ref["lower_emmeans"], atol=CI_DEFAULT)
    assert_allclose(ours["ci_high"], ref["upper_emmeans"], atol=CI_DEFAULT)
    assert_allclose(ours["p_adj"], ref["p_hp"], atol=P_HP)
    crit = (ours["mean_diff"] - ours["ci_low"]) / ours["se"]
    assert_allclose(crit, ref["crit_hp"], atol=CRIT_HP)
    # M464 x IFN gamma is missing on plate 3: two plates
    m464 = ours[(ours["cell_line"] == "M464") & (ours["treatment"] == "IFN gamma")]
    assert m464["n_treatment"].item() == 2 and m464["n_control"].item() == 3


def test_block_dunnett_means_are_emmeans():
    ours = block_dunnett(means(), dv="mean", controls=VEHICLE)
    ref = pd.read_csv(DATA / "r_block_emmeans.csv").set_index(["cell_line", "treatment"])
    got = ours.set_index(["cell_line", "treatment"])["mean_treatment"]
    assert_allclose(got, ref.loc[got.index, "emmean"], atol=EXACT)


def test_pinned_block_dunnett_row():
    # emmeans(lm(mean ~ plate + cell_line * treatment), ~ treatment | cell_line): M464,
    # IFN gamma - untreated (IFN gamma missing on plate 3), adjust = "mvt"
    ours = block_dunnett(means(), dv="mean", controls=VEHICLE)
    row = ours[(ours["cell_line"] == "M464") & (ours["treatment"] == "IFN gamma")].iloc[0]
    assert row["mean_diff"] == pytest.approx(-21.085379, abs=1e-6)
    assert row["se"] == pytest.approx(11.003936, abs=1e-6)
    assert row["df"] == 21
    assert row["p_adj"] == pytest.approx(0.172491, abs=1e-5)
    assert row["stars"] == "NS"


def test_complete_blocks_use_the_exact_quadrature():
    # every condition on every plate: the estimates' covariance is a diagonal plus a constant,
    # so each family is that of independent groups (variances 1/plates), integrated exactly
    m = means()
    complete = m[m["cell_line"] != "M464"]
    ours = block_dunnett(complete, dv="mean", controls=VEHICLE)
    adjusted = complete["mean"] - complete.groupby("plate")["mean"].transform("mean")
    cells = adjusted.groupby([complete["cell_line"], complete["treatment"]]).mean()
    for line, family in ours.groupby("cell_line"):
        edges = list(zip(family["treatment"], family["control"]))
        variances = {g: 1 / 3 for edge in edges for g in edge}
        p, crit = mvt._family_inference(
            variances, edges, family["t"].to_numpy(), 14, "two-sided", 0.95
        )
        assert family["df"].unique().tolist() == [14]  # 24 means - 8 conditions - 2 plates
        assert_allclose(family["p_adj"], p, rtol=1e-12)
        assert_allclose(family["ci_high"], family["mean_diff"] + crit * family["se"], rtol=1e-12)
        want = [cells[(line, t)] - cells[(line, c)] for t, c in edges]
        assert_allclose(family["mean_diff"], want, atol=1e-9)


@pytest.mark.parametrize("df", [7, 21, np.inf])
def test_general_family_agrees_with_the_exact_quadrature(df):
    # the quasi-Monte Carlo path on a forest-shaped covariance against the exact quadrature
    variances = {"u": 1 / 3, "a": 1 / 2, "l": 1 / 3, "c": 1 / 3}
    edges = [("a", "u"), ("l", "u"), ("c", "l")]
    groups = ["u", "a", "l", "c"]
    cov = np.diag([variances[g] for g in groups])
    cov[0, 1] = cov[1, 0] = 1e-3  # not a forest any more, by a hair
    t = np.array([-2.9, 0.4, -2.2])
    exact_p, exact_c = mvt._family_inference(variances, edges, t, df, "two-sided", 0.95)
    p, c = mvt._contrast_inference(cov, groups, edges, t, df, "two-sided", 0.95)
    assert_allclose(p, exact_p, atol=5e-4)
    assert c == pytest.approx(exact_c, abs=2e-3)


def test_mixed_model_matches_lmer():
    ours = mixed_dunnett(wells(), controls=VEHICLE)
    ref = pd.read_csv(DATA / "r_mixed_dunnett.csv")
    assert_array_equal(
        ours[["cell_line", "treatment", "control"]], ref[["cell_line", "treatment", "control"]]
    )
    assert np.isinf(ours["df"]).all() and np.isinf(ref["df"]).all()
    assert_allclose(ours["mean_diff"], ref["estimate"], atol=1e-3)
    assert_allclose(ours["se"], ref["se"], rtol=MIXED_REL)
    assert_allclose(ours["t"], ref["t"], rtol=MIXED_REL)
    assert_allclose(ours["p_adj"], ref["p_hp"], atol=1e-3)
    assert_allclose(ours["p_adj"], ref["p_emmeans"], atol=P_DEFAULT)
    crit = (ours["mean_diff"] - ours["ci_low"]) / ours["se"]
    assert_allclose(crit, ref["crit_hp"], atol=1e-4)
    variances = pd.read_csv(DATA / "r_mixed_variances.csv").set_index("component")["variance"]
    got = ours.attrs["variances"]
    assert got["plate"] == pytest.approx(variances["plate"], rel=MIXED_REL)
    assert got["plate:condition"] == pytest.approx(
        variances["plate:cell_line:treatment"], rel=MIXED_REL
    )
    assert got["residual"] == pytest.approx(variances["Residual"], rel=MIXED_REL)
    assert "no exact small-sample" in ours.attrs["df"]


def test_plate_agreement_known_answer():
    # the same treatment effect on both plates (plate 2 shifted by +30): no interaction
    d = pd.DataFrame(
        {
            "plate": [1] * 4 + [2] * 4,
            "cell_line": "A",
            "treatment": ["untreated", "untreated", "IFN", "IFN"] * 2,
            "pct_change": [200.0, 204, 100, 104, 230, 234, 130, 134],
        }
    )
    res = plate_agreement(d)
    assert res["f"].tolist() == pytest.approx([0.0, 0.0], abs=1e-9)
    # the effect halves on plate 2: SS of the interaction = n/4 * (contrast)^2 = 2 * 50^2 / ...
    d.loc[(d["plate"] == 2) & (d["treatment"] == "IFN"), "pct_change"] += 50
    res = plate_agreement(d)
    row = res.iloc[0]
    # interaction contrast (plate2 - plate1 of IFN - untreated) = 50; SS = 50^2 / (4 / 2) = 1250
    assert row["ss"] == pytest.approx(1250.0)
    assert row["df"] == 1
    assert row["f"] == pytest.approx(1250.0 / 8.0)  # within-cell MS = 4 * 2 / 4


def test_plate_agreement_matches_interaction_f_on_unbalanced_wells():
    # the F test of lm(y ~ plate + treatment) against the plate x treatment cell means (R:
    # anova(lm(y ~ plate + treatment), lm(y ~ plate:treatment))), by its definition
    from scipy import stats as sps
    from statsmodels.formula.api import ols

    w = wells()
    w = w[w["cell_line"] == "M464"]
    rss_add = ols("pct_change ~ C(plate) + C(treatment)", data=w).fit().ssr
    cell = w.groupby(["plate", "treatment"])["pct_change"]
    rss_full = float(((w["pct_change"] - cell.transform("mean")) ** 2).sum())
    n_cells = cell.ngroups
    df_int, df_err = n_cells - (1 + 2 + 3), len(w) - n_cells
    f = (rss_add - rss_full) / df_int / (rss_full / df_err)
    row = plate_agreement(w).iloc[0]
    assert row["df"] == df_int == 5  # 6 minus the condition missing on plate 3
    assert row["f"] == pytest.approx(f, rel=1e-9)
    assert row["p"] == pytest.approx(sps.f.sf(f, df_int, df_err), rel=1e-9)


def test_block_errors():
    m = means()
    with pytest.raises(IncugrowthError, match="needs >= 2 levels of 'plate'"):
        block_anova(m[m["plate"] == "plate1"], dv="mean")
    empty = m[~((m["cell_line"] == "M464") & (m["treatment"] == "IFN gamma"))]
    with pytest.raises(IncugrowthError, match="empty cells"):
        block_anova(empty, dv="mean")
    # Dunnett still runs without M464 x IFN gamma (cell-means form)
    res = block_dunnett(empty, dv="mean", controls=VEHICLE)
    assert len(res) == 8
    assert "IFN gamma" not in set(res.loc[res["cell_line"] == "M464", "treatment"])
    no_vehicle = m[~((m["cell_line"] == "M420") & (m["treatment"] == "Lipofectamine"))]
    with pytest.warns(IncugrowthWarning, match="M420.*no 'Lipofectamine'.*2'3'-cGAMP"):
        res = block_dunnett(no_vehicle, dv="mean", controls=VEHICLE)
    assert set(res.loc[res["cell_line"] == "M420", "treatment"]) == {"IFN gamma"}
    disconnected = m.copy()
    disconnected.loc[disconnected["plate"] == "plate2", "cell_line"] = "other"
    disconnected = disconnected[disconnected["plate"] != "plate3"]
    with pytest.raises(IncugrowthError, match="confounded"):
        block_dunnett(disconnected, dv="mean", by="cell_line", block="plate", controls=VEHICLE)


@pytest.mark.slow
def test_r_reference_script_reproduces_the_pinned_values(tmp_path):
    """Run tests/r/combine_reference.R (--quick: emmeans' own mvt only) and compare."""
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not installed")
    check = subprocess.run(
        ["Rscript", "-e", "library(emmeans); library(car); library(lme4)"],
        capture_output=True,
    )
    if check.returncode != 0:
        pytest.skip("R packages car, emmeans, lme4 not installed")
    subprocess.run(
        ["Rscript", str(R_SCRIPT), str(DATA), str(tmp_path), "--quick"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    for name in ("r_block_anova.csv", "r_block_dunnett.csv", "r_mixed_variances.csv"):
        new, pinned = pd.read_csv(tmp_path / name), pd.read_csv(DATA / name)
        numeric = [c for c in pinned.columns if c not in ("p_hp", "crit_hp")]
        numeric = [c for c in numeric if pd.api.types.is_float_dtype(pinned[c])]
        assert_allclose(new[numeric], pinned[numeric], rtol=1e-8, atol=1e-3)
