"""The methods paragraph: what the run did, in words, from its tables and ``run.json``."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from incugrowth import __version__
from incugrowth.report.conditions import _measure_word
from incugrowth.report.dead_cells import dead_methods
from incugrowth.report.endpoint import _endpoint_wells_text, _residual_row, _sensitivity
from incugrowth.report.experiment import _metric_of, _n_wells
from incugrowth.report.formatting import _hours, _list_text
from incugrowth.report.metrics import _rate_window


def _ss_type(endpoint: pd.DataFrame | None, anova: pd.DataFrame | None) -> str:
    """Which sums of squares the ANOVA table holds, told apart by refitting the model."""
    if anova is None:
        return ""
    for col in ("ss_type", "type"):
        if col in anova.columns and anova[col].notna().any():
            return f"type {anova[col].dropna().iloc[0]} sums of squares"
    if endpoint is None or not {"cell_line", "treatment", "pct_change"} <= set(endpoint.columns):
        return ""
    data = endpoint.dropna(subset=["pct_change"])
    cells = data.groupby(["cell_line", "treatment"]).size()
    if cells.nunique() == 1:
        return "a balanced design, for which type I, II and III sums of squares are identical"
    try:
        import statsmodels.api as sm
        from statsmodels.formula.api import ols

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = pd.DataFrame(
                {
                    "y": data["pct_change"].astype(float).to_numpy(),
                    "a": data["cell_line"].astype(object).to_numpy(),
                    "b": data["treatment"].astype(object).to_numpy(),
                }
            )
            model = ols("y ~ C(a, Sum) * C(b, Sum)", data=d).fit()
            ss = np.sort(anova["ss"].dropna().to_numpy(dtype=float))
            for typ in (2, 3, 1):
                table = sm.stats.anova_lm(model, typ=typ)
                ref = table["sum_sq"].drop(index="Intercept", errors="ignore").to_numpy()
                ref = np.sort(ref)
                if ref.shape == ss.shape and np.allclose(ref, ss, rtol=1e-6):
                    return f"type {'I' * typ if typ < 3 else 'III'} sums of squares"
    except Exception:  # the statement is then left out rather than guessed
        return ""
    return ""


def _growth_metrics_methods(tables: dict, run: dict | None = None) -> list[str]:
    """Methods sentences for the log-scale sensitivity analysis, growth rates, DIP, GR and
    dose-response."""
    parts = []
    # the quantity each well's measure is: its count of nuclei, or its phase confluence
    x = "confluence" if _measure_word(run) == "confluence" else "count"
    xs = "confluence values" if x == "confluence" else "counts"
    scale = ((run or {}).get("parameters") or {}).get("scale") or "pct"
    logged = tables.get("dunnett_pct" if scale == "log2" else "dunnett_log2")
    if logged is not None and len(logged):
        sens = _sensitivity(tables, scale=scale)
        agree = (
            f"; {sens['same']} of {sens['total']} comparisons reached the same conclusion at P<0.05"
            if "total" in sens
            else ""
        )
        if scale == "log2":
            parts.append(
                "As a sensitivity analysis, Dunnett's comparisons were repeated on the "
                f"change in {x} (%), the scale of the original study{agree}."
            )
        else:
            parts.append(
                "As a sensitivity analysis, the endpoint ANOVA and Dunnett's comparisons were "
                "repeated on the log2 fold change, log2(N(t) / N(t\u2080)), which makes the "
                f"spread of growing cultures more even{agree}."
            )
    rates = tables.get("growth_rates")
    if rates is not None and len(rates) and "rate_per_h" in rates.columns:
        window = _rate_window(run or {}) or "over the whole time course"
        parts.append(
            f"Exponential growth rates r (per hour) were fitted to each well's {xs} "
            f"{window} by least squares of ln({x}) against time; doubling time = ln 2 / r."
        )
    dip = tables.get("dip")
    if dip is not None and len(dip):
        parts.append(
            "Drug-induced proliferation (DIP) rates (Harris et al., Nat Methods 2016) are the "
            f"least-squares slopes of log2({x}) against time, in doublings per hour: over the "
            "whole time course for control wells, and for treated wells over the late window "
            "ending at the last time point that maximises adjusted R\u00b2 \u00d7 "
            "(1 \u2212 RMSE)\u00b2 \u00d7 (n \u2212 3)^0.25, as in Thunor."
        )
    gr = tables.get("gr")
    if gr is not None and len(gr):
        parts.append(
            "Growth-rate inhibition (GR) values (Hafner et al., Nat Methods 2016) were computed "
            "per condition and time point as GR = 2^(log2(x / x\u2080) / log2(x_c / "
            f"x_c\u2080)) \u2212 1, from the mean {x} of the condition's wells (x) and of its "
            f"control wells (x_c), each relative to its own {x} at time zero; GR is 1 without "
            "effect, 0 for a cytostatic and below 0 for a cytotoxic effect."
        )
    dr = tables.get("dose_response")
    if dr is not None and len(dr) and "response" in dr.columns:
        cols = list(dr.columns)
        keys = [c for c in cols[: cols.index("response")] if c != "dose_unit"]
        n_series = len(dr.drop_duplicates(keys)) if keys else 1
        word = _measure_word(run)
        names = {"gr": "GR values", "relative_count": f"relative {word}",
                 "dip_rate": "DIP rates", "pct_change": f"changes in {word}"}  # fmt: skip
        at = dr["at_h"].dropna() if "at_h" in dr.columns else pd.Series(dtype=float)
        timed = [names.get(k, str(k)) for k in dict.fromkeys(dr["response"]) if k != "dip_rate"]
        kinds = _list_text(timed) + (f" at {float(at.iloc[0]):g} h" if timed and len(at) else "")
        if (dr["response"] == "dip_rate").any():
            kinds = _list_text([k for k in (kinds, "DIP rates") if k])
        doses = ""
        if "n_doses" in dr.columns and dr["n_doses"].notna().any():
            lo, hi = int(dr["n_doses"].min()), int(dr["n_doses"].max())
            doses = f" ({lo} doses)" if lo == hi else f" ({lo} to {hi} doses)"
        series = "the dose series" if n_series == 1 else f"each of the {n_series} dose series"
        parts.append(
            f"For {series}{doses}, a "
            "four-parameter log-logistic curve, y = E\u221e + (E\u2080 \u2212 E\u221e) / "
            "(1 + (dose / EC50)^h), was fitted by least squares on log10 dose to the values of "
            f"the individual wells: {kinds}. Confidence intervals (95 %) are "
            "Wald intervals from the covariance of the fit (Student t with n \u2212 4 df), for "
            "EC50 and IC50 taken on log10 dose. An extra-sum-of-squares F test against a flat "
            "(constant) model decided whether the response depended on dose at all (P > 0.05: "
            f"flat, no IC50). GR50 is the dose at which GR = 0.5, the IC50 of relative {x} the "
            "dose at which it is 0.5, the IC50 of DIP rate the dose that halves the fitted "
            "rate without drug; GR_AOC is 1 minus the mean GR over the log10 dose range "
            f"(trapezoid rule) and AUC the mean relative {x}."
        )
    return parts


def _time_course_methods(tables: dict, word: str = "cell count") -> list[str]:
    """Methods sentences for the ``--time-course`` tables, when the run made them."""
    parts = []
    by_time, rm = tables.get("dunnett_by_time"), tables.get("rm_anova")
    if by_time is not None and len(by_time) and "elapsed_h" in by_time.columns:
        times = sorted(by_time["elapsed_h"].dropna().unique())
        dfs = sorted(by_time["df"].dropna().unique()) if "df" in by_time.columns else []
        parts.append(
            "Within each cell line, each treatment was also compared with its control at each "
            f"of the {len(times)} time points after the baseline ({_hours(times[0])} to "
            f"{_hours(times[-1])}) by Dunnett's test, one family per time point"
            + (f" (df = {_list_text(f'{d:g}' for d in dfs)})" if dfs else "")
            + "."
        )
    if rm is not None and len(rm) and "source" in rm.columns:
        parts.append(
            f"For each cell line, a two-way repeated-measures ANOVA of the change in {word} "
            "(treatment between wells, time within wells, type III sums of squares) was "
            "computed, with Greenhouse\u2013Geisser-corrected P values for the terms within "
            "wells."
        )
    return parts


def methods_text(tables: dict, run: dict) -> str:
    """A methods paragraph stating what this run did, from its tables and ``run.json``.

    Examples
    --------
    >>> growth = pd.DataFrame({"well": ["B2", "B2"], "elapsed_h": [0.0, 72.0],
    ...                        "cell_line": "M420", "treatment": "untreated",
    ...                        "baseline_h": 0.0, "count": [100.0, 400.0]})
    >>> run = {"parameters": {"exports": ["count.txt"], "combine": "mean",
    ...                       "endpoint_h": 72, "endpoint_tolerance_h": 6}}
    >>> text = methods_text({"growth": growth}, run)
    >>> "100 \u00d7 (N(t) / N(t\u2080) \u2212 1)" in text
    True
    """
    params = run.get("parameters") or {}
    env = run.get("environment") or {}
    growth = tables.get("growth")
    counts = tables.get("counts")
    end = tables.get("endpoint")
    anova = tables.get("anova")
    dunnett = tables.get("dunnett")
    parts = []

    word = _measure_word(run)
    # Input and counting.
    if params.get("frames") and word == "confluence":
        parts.append(
            f"The frames analysed, of the image export {Path(params['frames']).name}, are "
            "phase contrast, so growth was measured as the phase confluence of each frame "
            "instead of a count of nuclei: the percent of its area covered by cells, the "
            "pixels whose local contrast (local standard deviation over local mean, Gaussian "
            "window sigma 1.5 px, as in PHANTAST) exceeds 3 times the dish's (and at least "
            "0.01), small holes filled, the bright halo around cells peeled and debris "
            "removed (incugrowth.image.phase_confluence). The dish's level is that of each "
            "well, the lower quartile over its frames of the contrast of their flattest 2 % "
            "(the plate's for a well of fewer than 3 frames), so that a confluent frame, with "
            "no dish left in view, is measured against the dish of its well."
        )
    elif params.get("frames"):
        from incugrowth.report.sizes import size_words

        diameter = params.get("diameter")
        size = size_words(tables) or (
            f"a nucleus diameter of {diameter:g} px"
            if diameter
            else "the nucleus diameter estimated for each frame"
        )
        parts.append(
            f"Nuclei were counted by incugrowth in every image of the IncuCyte image export "
            f"{Path(params['frames']).name} ({params.get('channel') or 'red (nuclear)'} channel; "
            f"segmentation by incugrowth.image.segment_nuclei with {size})."
        )
    else:
        names = [Path(p).name for p in params.get("exports") or []]
        metric = _metric_of(params, counts)
        parts.append(
            f"{'Confluence values' if word == 'confluence' else 'Cell counts'} were read from "
            f"the IncuCyte metric export {_list_text(names)}"
            + (f" (metric \u201c{metric}\u201d)" if metric else "")
            + "; failed images (IncuCyte writes them as large negative numbers or NA) were "
            "treated as missing."
        )
    # Fields.
    n_fields = None
    if counts is not None and "field" in counts.columns and counts["field"].notna().any():
        n_fields = int(counts.groupby(["well", "elapsed_h"])["field"].nunique().max())
    how = params.get("combine", "mean")
    values = "confluence values" if word == "confluence" else "counts"
    if n_fields and n_fields > 1 and how == "mean":
        parts.append(
            f"The {values} of the {n_fields} images (fields) of each well were averaged at "
            "each time point, leaving out images without a value."
        )
    elif n_fields and n_fields > 1:
        parts.append(
            f"The {values} of the {n_fields} images (fields) of each well were summed at each "
            "time point; where an image had no value, the sum is the mean of the images with "
            "one times the well's number of images."
        )
    elif n_fields == 1:
        parts.append("Each well was imaged in one field per time point.")
    else:
        parts.append("The export gave one value per well and time point.")
    # Percent change.
    if growth is not None and "baseline_h" in growth.columns:
        bases = sorted(growth["baseline_h"].dropna().unique())
        when = _list_text(f"{b:g} h" for b in bases[:3])
    else:
        bases, when = [], ""
    baseline = (
        f"at the baseline time {params['baseline_h']:g} h (nearest imaged point: {when})"
        if params.get("baseline_h") is not None
        else f"at the plate's first imaged time point ({when})"
        if when
        else "at the plate's first imaged time point"
    )
    n = _n_wells(tables.get("curves"))
    parts.append(
        f"Growth was expressed for each well as the change in {word} (%) = "
        "100 \u00d7 (N(t) / N(t\u2080) \u2212 1), where N(t\u2080) is the "
        f"{'confluence' if word == 'confluence' else 'count'} {baseline}. "
        + (
            "Curves show the one well of each condition (no replicate wells)."
            if n == "1"
            else "Curves show the mean \u00b1 SD of the replicate wells of each condition"
            + (f" (n = {n} wells)." if n else ".")
        )
    )
    # Endpoint.
    asked = params.get("endpoint_h")
    if end is not None and len(end) and "endpoint_h" in end.columns:
        used = float(end["endpoint_h"].iloc[0])
        tol = params.get("endpoint_tolerance_h")
        parts.append(
            f"The endpoint was requested at {asked:g} h; the nearest imaged time point, "
            f"{used:g} h, was used"
            + (f" (allowed distance {tol:g} h)" if tol is not None else "")
            + f", with {_endpoint_wells_text(end, growth)}."
        )
    elif asked is not None:
        parts.append(f"The endpoint ({asked:g} h) was not reached, so no endpoint test was made.")
    # ANOVA.
    resid = None
    if anova is not None and len(anova) and "source" in anova.columns:
        terms = [
            str(s).replace(":", " \u00d7 ").replace("_", " ")
            for s in anova["source"]
            if str(s).lower() not in ("residual", "residuals", "error", "within", "resid", "total")
        ]
        resid = _residual_row(anova)
        ss = _ss_type(end, anova)
        kind = "two-way" if any("\u00d7" in t for t in terms) else "one-way"
        response = (
            f"the log2 fold change of the {word}, log2(N(t) / N(t\u2080)),"
            if params.get("scale") == "log2"
            else f"the change in {word}"
        )
        parts.append(
            f"At the endpoint, {response} was analysed by {kind} ANOVA with the "
            f"terms {_list_text(terms)}"
            + (f" ({ss})" if ss else "")
            + (f"; residual df = {float(resid['df']):g}" if resid is not None else "")
            + "."
        )
    else:
        parts.append("No ANOVA table was produced for this run.")
    # Dunnett.
    if dunnett is not None and len(dunnett) and {"treatment", "control"} <= set(dunnett.columns):
        level = "cell line" if "cell_line" in dunnett.columns else "time point"
        pairs = dunnett.groupby("control", sort=False)["treatment"].unique()
        controls = "; ".join(f"{_list_text(ts)} against {c}" for c, ts in pairs.items() if len(ts))
        dfs = sorted(dunnett["df"].dropna().unique()) if "df" in dunnett.columns else []
        pooled = (
            resid is not None and len(dfs) == 1 and float(dfs[0]) == float(resid["df"])
            if anova is not None
            else False
        )
        parts.append(
            f"Within each {level}, each treatment was compared with its control ({controls}) "
            "by Dunnett's test"
            + (
                " using the ANOVA residual mean square"
                if pooled
                else (f" (df = {_list_text(f'{d:g}' for d in dfs)})" if dfs else "")
            )
            + f"; the comparisons of each {level} form one family, whose adjusted P values and "
            "simultaneous 95% confidence intervals were computed from the multivariate t "
            "distribution. *** P<0.001, ** P<0.01, * P<0.05, NS not significant."
        )
    else:
        parts.append("No Dunnett comparisons were produced for this run.")
    parts += _time_course_methods(tables, word)
    parts += _growth_metrics_methods(tables, run)
    dead = dead_methods(tables, run)
    if dead:
        parts.append(dead)
    # Software.
    soft = [f"incugrowth {run.get('incugrowth', __version__)}"]
    if env.get("python"):
        soft.append(f"Python {env['python']}")
    soft += [f"{k} {env[k]}" for k in ("numpy", "pandas", "scipy", "statsmodels") if env.get(k)]
    if params.get("frames"):  # the counter's own libraries
        soft += [f"{k} {env[k]}" for k in ("scikit-image", "opencv", "numba") if env.get(k)]
    parts.append(f"Software: {', '.join(soft)}.")
    return " ".join(parts)
