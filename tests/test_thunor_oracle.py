"""DIP rates, viability and dose-response fits compared with Thunor (the reference implementation).

One simulated IncuCyte-style experiment (``tests/data/thunor/hts_input.csv``, Thunor's
"Vanderbilt HTS" format: 2 cell lines, 1 drug at 7 doses in triplicate, 4 control wells each,
imaged every 4 h for 96 h) is analysed by Thunor and by incugrowth:

* DIP rates of every well: control wells over the whole course, treated wells over the window
  Thunor's ``tyson1`` rule chooses (rate, standard error, first hour of the window);
* viability (count over the mean control count of the cell line) at 72 h, our
  ``relative_count``;
* the four-parameter log-logistic fit of viability: Thunor's ``HillCurveLL4`` on the treated
  wells, unweighted, without F test (``fit_params``), which is our ``fit_dose_response`` on
  ``relative_count``: E0, Einf, Hill slope, EC50, Emax (fit at the highest dose), activity
  area, and Thunor's IC50 (where the curve falls to half of E0, our ``ic_level=None``).

Thunor's results are pinned as CSV files beside the input, so the comparison runs without
Thunor. The live tests, which run Thunor itself, are skipped when it is not installed. The
pinned files were written by this module's ``main()`` (Thunor 1.0.3, numpy 2.4, pandas 3.1,
scipy 1.17)::

    pip install thunor==1.0.3
    python tests/test_thunor_oracle.py            # rewrites tests/data/thunor/*.csv

Thunor's DIP-rate curve fits (weighted by the DIP standard errors, with the controls placed at
a tenth of the lowest dose and its own F test) are a different method from ours and are not
compared.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from incugrowth.dip import dip_rates, gr_values
from incugrowth.doseresponse import dose_response_table, fit_dose_response

DATA = Path(__file__).parent / "data" / "thunor"
INPUT = DATA / "hts_input.csv"
AT_H = 72.0
PLATE = (12, 8)  # 96-well plate: width, height
TOL = 1e-6


def make_input(seed: int = 2016) -> pd.DataFrame:
    """The simulated experiment in Thunor's Vanderbilt HTS format (doses in M)."""
    rng = np.random.default_rng(seed)
    times = np.arange(0.0, 97.0, 4.0)
    doses = 10.0 ** np.arange(-9.0, -5.9, 0.5)
    # cell line: control doublings per hour, DIP at saturating dose, EC50 (M), Hill, lag (h)
    lines = {
        "CL-A": (1 / 24, -0.02, 1e-7, 1.2, 16.0),
        "CL-B": (1 / 30, 0.012, 3e-7, 0.9, 24.0),
    }
    wells = [f"{r}{c}" for r in "BCDEFG" for c in range(2, 12)]
    rows = []
    for line, (r0, rmin, ec50, hill, lag) in lines.items():
        design = [(0.0, None)] * 4 + [(d, "drugX") for d in doses for _ in range(3)]
        for dose, drug in design:
            well = wells.pop(0)
            rate = r0 if drug is None else rmin + (r0 - rmin) / (1 + (dose / ec50) ** hill)
            n0 = 250 * np.exp(rng.normal(0, 0.1))
            log2n = np.log2(n0) + r0 * np.minimum(times, lag) + rate * np.maximum(times - lag, 0)
            log2n += rng.normal(0, 0.03, times.size)
            for t, v in zip(times, np.round(2.0**log2n)):
                rows.append(
                    {"upid": "P1", "well": well, "cell.line": line,
                     "drug1": drug if drug else "", "drug1.conc": dose, "drug1.units": "M",
                     "time": t, "cell.count": v}
                )  # fmt: skip
    return pd.DataFrame(rows)


def growth_from_hts(hts: pd.DataFrame) -> pd.DataFrame:
    """Our growth table from the Vanderbilt HTS table."""
    control = hts["drug1.conc"] == 0
    return pd.DataFrame(
        {
            "well": hts["well"],
            "elapsed_h": hts["time"].astype(float),
            "count": hts["cell.count"].astype(float),
            "cell_line": hts["cell.line"],
            "treatment": np.where(control, "untreated", hts["drug1"].fillna("")),
            "dose": hts["drug1.conc"].where(~control),
            "dose_unit": "M",
        }
    )


def thunor_reference(path: Path = INPUT) -> dict[str, pd.DataFrame]:
    """Thunor's DIP rates, 72 h viability and viability fit parameters for ``path``."""

    with warnings.catch_warnings():
        # Thunor 1.0.3 still uses pandas' deprecated ``inplace=True``.
        warnings.simplefilter("ignore", DeprecationWarning)
        return _thunor_reference(path)


def _thunor_reference(path: Path) -> dict[str, pd.DataFrame]:
    from thunor.curve_fit import HillCurveLL4, fit_params
    from thunor.dip import dip_rates as thunor_dip_rates
    from thunor.io import PlateMap, read_vanderbilt_hts
    from thunor.viability import viability

    width, height = PLATE
    plate = PlateMap(width=width, height=height)
    hts = read_vanderbilt_hts(str(path), plate_width=width, plate_height=height)

    def name(well_id):
        return plate.well_id_to_name(int(str(well_id).split("__")[1]))

    ctrl, expt = thunor_dip_rates(hts)
    ctrl = ctrl.reset_index()
    ctrl = pd.DataFrame(
        {"well": ctrl["well_id"].map(name), "dip_rate": ctrl["dip_rate"],
         "dip_se": ctrl["dip_fit_std_err"], "first_h": 0.0}
    )  # fmt: skip
    expt = expt.reset_index()
    expt = pd.DataFrame(
        {"well": expt["well_id"].map(name), "dip_rate": expt["dip_rate"],
         "dip_se": expt["dip_fit_std_err"], "first_h": expt["dip_first_timepoint"]}
    )  # fmt: skip
    dip = pd.concat([ctrl, expt]).sort_values("well").reset_index(drop=True)

    via, _ = viability(hts, time_hrs=AT_H, include_controls=True)
    via = via.reset_index()
    via = pd.DataFrame(
        {"well": via["well_id"].map(name), "viability": via["viability"].astype(float)}
    ).sort_values("well", ignore_index=True)

    params = fit_params(None, viability(hts, time_hrs=AT_H, include_controls=False)[0],
                        fit_cls=HillCurveLL4).reset_index()  # fmt: skip
    as_is, polished = [], []
    for _, row in params.iterrows():
        curve = row["fit_obj"]
        as_is.append({"cell_line": row["cell_line"], **_curve_metrics(curve, row)})
        # Thunor's LL4 fit stops at scipy's default tolerance (xtol 1.5e-8) about 1e-5 from
        # the least-squares optimum; the same model, continued from Thunor's solution with
        # tight tolerances, gives the optimum itself.
        polished.append(
            {"cell_line": row["cell_line"], **_curve_metrics(_polish(curve, via_rows(row)), row)}
        )
    return {
        "dip": dip,
        "viability": via,
        "fit": pd.DataFrame(polished),
        "fit_as_is": pd.DataFrame(as_is),
    }


def via_rows(row) -> tuple[np.ndarray, np.ndarray]:
    """Doses and viabilities Thunor fitted for one row of ``fit_params``."""
    values = row["viability"]
    return values.index.get_level_values("dose").to_numpy(float), values.to_numpy(float)


def _polish(curve, data):
    """Thunor's LL4 model (``fit_fn_log``) converged tightly from Thunor's solution."""
    import scipy.optimize
    from thunor.curve_fit import HillCurveLL4

    doses, values = data
    b, c, d, e = curve.popt
    popt, _ = scipy.optimize.curve_fit(
        HillCurveLL4.fit_fn_log, doses, values, p0=[b, c, d, np.log(e)],
        method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15, maxfev=100000,
    )  # fmt: skip
    return HillCurveLL4(HillCurveLL4.transform_popt_from_log(popt))


def _curve_metrics(curve, row) -> dict:
    lo, hi = row["min_dose_measured"], row["max_dose_measured"]
    ic50 = curve.ic(50)
    return {
        "e0": curve.e0,
        "einf": curve.emax,  # Thunor's "emax" of a curve is its lower asymptote
        "hill": curve.hill_slope,
        "ec50": curve.ec50,
        "emax": curve.fit(hi),  # Thunor's "emax" column: the fit at the highest dose
        "activity_area": curve.aa(lo, hi),
        "ic50_half_e0": np.nan if ic50 is None else ic50,  # None: never reaches half of E0
        "rss": float(np.sum((curve.fit(via_rows(row)[0]) - via_rows(row)[1]) ** 2)),
    }


def _ours() -> dict[str, pd.DataFrame]:
    growth = growth_from_hts(pd.read_csv(INPUT, keep_default_na=False, na_values=[""]))
    dip = dip_rates(growth)[["well", "dip_rate", "dip_se", "first_h"]]
    per_well = gr_values(growth, per_well=True)
    via = per_well[(per_well["elapsed_h"] == AT_H) & (per_well["treatment"] != "untreated")]
    table = dose_response_table(growth, response="relative_count", at_h=AT_H)
    extra = []
    for line, rows in via.groupby("cell_line"):
        # Thunor's IC50: where the curve falls to half of its fitted E0.
        fit = fit_dose_response(rows, response="relative_count", ic_level=None)
        rss = float(np.sum((fit.predict(fit.dose) - fit.response) ** 2))
        extra.append({"cell_line": line, "ic50_half_e0": fit.ic(), "rss": rss})
    via = via[["well", "relative_count"]].rename(columns={"relative_count": "viability"})
    return {
        "dip": dip.sort_values("well", ignore_index=True),
        "viability": via.sort_values("well", ignore_index=True),
        "fit": table.merge(pd.DataFrame(extra), on="cell_line"),
    }


FIT_COLUMNS = ["e0", "einf", "hill", "emax", "activity_area"]
TABLES = ("dip", "viability", "fit", "fit_as_is")


def _dip_viability_differences(ours: dict, ref: dict) -> dict[str, float]:
    out = {}
    dip = ours["dip"].merge(ref["dip"], on="well", suffixes=("", "_ref"), validate="1:1")
    assert len(dip) == len(ref["dip"]) == 50
    for col in ("dip_rate", "dip_se", "first_h"):
        out[col] = float(np.max(np.abs(dip[col] - dip[f"{col}_ref"])))
    via = ours["viability"].merge(ref["viability"], on="well", suffixes=("", "_ref"))
    assert len(via) == len(ref["viability"]) == 42
    out["viability"] = float(np.max(np.abs(via["viability"] - via["viability_ref"])))
    return out


def _fit_differences(ours: pd.DataFrame, ref: pd.DataFrame) -> dict[str, float]:
    fit = ours.merge(ref, on="cell_line", suffixes=("", "_ref"), validate="1:1")
    assert len(fit) == 2
    out = {col: float(np.max(np.abs(fit[col] - fit[f"{col}_ref"]))) for col in FIT_COLUMNS}
    out["log10_ec50"] = float(np.max(np.abs(np.log10(fit["ec50"] / fit["ec50_ref"]))))
    # Thunor gives no IC50 (None) when the curve never falls to half of E0; ours gives +inf.
    never = fit["ic50_half_e0_ref"].isna()
    assert never.any() and np.all(fit.loc[never, "ic50_half_e0"] == np.inf)
    reached = fit[~never]
    ratio = reached["ic50_half_e0"] / reached["ic50_half_e0_ref"]
    out["log10_ic50_half_e0"] = float(np.max(np.abs(np.log10(ratio))))
    return out


def _pinned() -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(DATA / f"thunor_{name}.csv") for name in TABLES}


@pytest.fixture(scope="module")
def ours():
    return _ours()


def test_input_is_the_documented_simulation():
    """The pinned input is what make_input() writes (counts are whole cells)."""
    pinned = pd.read_csv(INPUT, keep_default_na=False, na_values=[""])
    fresh = make_input()
    assert pinned.shape == fresh.shape == (50 * 25, 8)
    np.testing.assert_array_equal(pinned["cell.count"], fresh["cell.count"])


def test_dip_rates_and_viability_match_pinned_thunor(ours):
    diffs = _dip_viability_differences(ours, _pinned())
    assert max(diffs.values()) <= TOL, diffs


def test_fit_matches_pinned_thunor_model_at_its_optimum(ours):
    diffs = _fit_differences(ours["fit"], _pinned()["fit"])
    assert max(diffs.values()) <= TOL, diffs


def test_fit_matches_thunor_as_is_within_its_stopping_tolerance(ours):
    """Thunor's own fit stops slightly early; ours is at least as good a least-squares fit."""
    as_is = _pinned()["fit_as_is"]
    diffs = _fit_differences(ours["fit"], as_is)
    assert max(diffs.values()) <= 1e-4, diffs
    rss = ours["fit"].merge(as_is, on="cell_line", suffixes=("", "_ref"))
    assert np.all(rss["rss"] <= rss["rss_ref"] + 1e-12)


def test_treated_windows_start_at_the_drug_lag(ours):
    """The tyson1 rule skips the 16 h before the drug acts in the CL-A wells at the three
    highest doses, and recovers the simulated DIP rate there; controls use every point."""
    growth = growth_from_hts(pd.read_csv(INPUT, keep_default_na=False, na_values=[""]))
    wells = growth.drop_duplicates("well")[["well", "cell_line", "dose"]]
    dip = ours["dip"].merge(wells, on="well")
    strong = dip[(dip["cell_line"] == "CL-A") & (dip["dose"] >= 1e-7)]
    assert len(strong) == 9
    assert np.all(strong["first_h"] == 16.0)
    r0, rmin, ec50, hill = 1 / 24, -0.02, 1e-7, 1.2
    truth = rmin + (r0 - rmin) / (1 + (strong["dose"] / ec50) ** hill)
    np.testing.assert_allclose(strong["dip_rate"], truth, atol=0.001)
    assert np.all(dip.loc[dip["dose"].isna(), "first_h"] == 0.0)


def test_ic50_of_ours_lies_on_thunors_curve(ours):
    """Our IC50 (relative count 0.5) is where Thunor's fitted curve crosses 0.5."""
    ref = _pinned()["fit"].set_index("cell_line")
    finite = ours["fit"][np.isfinite(ours["fit"]["ic50"])]
    assert len(finite) == 1
    for _, row in finite.iterrows():
        r = ref.loc[row["cell_line"]]
        z = r["hill"] * (np.log(row["ic50"]) - np.log(r["ec50"]))
        assert r["einf"] + (r["e0"] - r["einf"]) / (1 + np.exp(z)) == pytest.approx(0.5, abs=TOL)


def test_live_thunor_matches_ours(ours):
    pytest.importorskip("thunor")
    live = thunor_reference()
    diffs = _dip_viability_differences(ours, live) | _fit_differences(ours["fit"], live["fit"])
    assert max(diffs.values()) <= TOL, diffs


def test_live_thunor_matches_pinned():
    pytest.importorskip("thunor")
    live, pinned = thunor_reference(), _pinned()
    for name in TABLES:
        pd.testing.assert_frame_equal(
            live[name].reset_index(drop=True), pinned[name], check_dtype=False, rtol=1e-9
        )


def main() -> None:
    """Write the input and Thunor's reference values (needs thunor)."""
    DATA.mkdir(parents=True, exist_ok=True)
    make_input().to_csv(INPUT, index=False)
    for name, table in thunor_reference().items():
        table.to_csv(DATA / f"thunor_{name}.csv", index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
