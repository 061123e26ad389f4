"""The dose-response section: fitted curves, their points and the table of each fit."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from incugrowth.report.conditions import _measure_word
from incugrowth.report.formatting import _hours, format_number, format_p
from incugrowth.report.inline import _Figures


def _response_names(word: str = "cell count") -> dict:
    """response: (shown as, potency, maximal effect, asymptote, area column, area name), for
    a run whose growth measure is `word` (``"cell count"`` or ``"confluence"``)."""
    return {
        "gr": ("GR value", "GR50", "GRmax", "GRinf", "gr_aoc", "GR_AOC"),
        "relative_count": (f"Relative {word}", "IC50", "Emax", "Einf", "auc", "AUC"),
        "dip_rate": ("DIP rate", "IC50", "Emax", "Einf", "activity_area", "Activity area"),
        "pct_change": (f"Change in {word} (%)", "IC50", "Emax", "Einf", "activity_area",
                       "Activity area"),
    }  # fmt: skip


def _truthy(v) -> bool:
    return str(v).strip().lower() in ("true", "1", "1.0", "yes")


def _dose_text(x, unit: str = "") -> str:
    text = format_number(x, 3)
    return f"{text} {unit}".strip() if text else ""


def _potency(r: dict, unit: str) -> tuple[str, str]:
    """The IC50 (GR50) and its 95 % CI as text, saying when it was not reached."""
    ic = r.get("ic50", np.nan)
    try:
        ic = float(ic)
    except (TypeError, ValueError):
        ic = np.nan
    if ic == math.inf:
        return f"> {_dose_text(r.get('max_dose'), unit)} (not reached)", ""
    if ic == -math.inf:
        return f"< {_dose_text(r.get('min_dose'), unit)} (below every dose)", ""
    if ic != ic:
        return "not estimable", ""
    low, high = r.get("ic50_ci_low"), r.get("ic50_ci_high")
    ci = (
        f"{format_number(low, 3)} to {format_number(high, 3)}"
        if low == low and high == high and low is not None
        else "not estimable"
    )
    return _dose_text(ic, unit), ci


def _with_ci(r: dict, name: str, digits: int = 3) -> str:
    value = format_number(r.get(name), digits)
    low, high = r.get(f"{name}_ci_low"), r.get(f"{name}_ci_high")
    if value and low == low and high == high and low is not None and high is not None:
        return f"{value} ({format_number(low, digits)} to {format_number(high, digits)})"
    return value


def _fit_row(r: dict, unit: str, word: str = "cell count") -> dict:
    kind = str(r.get("response", ""))
    shown, potency, emax, einf, area_col, area_name = _response_names(word).get(
        kind, (kind, "IC50", "Emax", "Einf", "auc", "AUC")
    )
    flat = _truthy(r.get("flat"))
    if kind == "dip_rate" or kind == "pct_change":
        potency += " (half of E0)"
    ic, ci = _potency(r, unit)
    area = r.get("auc", np.nan)
    area = 1.0 - area if area_col == "gr_aoc" and area == area else r.get(area_col, np.nan)
    flags = []
    if flat:
        flags.append(f"flat: no effect of dose (F test P = {format_p(r.get('p_flat'))})")
    if "converged" in r and not _truthy(r.get("converged")):
        flags.append("fit did not converge")
    if _truthy(r.get("extrapolated")) and not flat:
        flags.append(f"{potency.split(' ')[0]} outside the tested doses")
    if _truthy(r.get("at_bound")) and not flat:
        flags.append("a parameter at its bound")
    return {
        "response": shown,
        "potency_name": potency,
        "potency": ic,
        "ci": ci,
        "emax_name": emax,
        "emax": format_number(r.get("emax"), 3),
        "einf_name": einf,
        "einf": "" if flat else _with_ci(r, "einf"),
        "hill": "" if flat else _with_ci(r, "hill"),
        "area_name": area_name,
        "area": format_number(area, 3),
        "r2": format_number(r.get("r_squared"), 3),
        "p_flat": format_p(r.get("p_flat")),
        "n": "" if r.get("n_obs") != r.get("n_obs") else f"{float(r.get('n_obs', 0)):g}",
        "flags": flags,
    }


def _per_well_gr(growth, control, controls, by, hour) -> pd.DataFrame | None:
    """Each well's GR value and relative count at ``hour`` (the values the fits used)."""
    from incugrowth import dip

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dip.gr_values(
                growth, control=control, controls=controls, by=by, per_well=True, times=[hour]
            )
    except Exception:  # older or partial tables: the condition means of gr.csv are used
        return None


def _series_points(tables, run, control, keys: dict, treatment, response, hour, cache):
    """The responses of one series' wells and of its control wells, and whether they are
    condition means rather than wells; plus the name of the control."""
    params = run.get("parameters") or {}
    controls = dict(params.get("controls") or {})
    by = [k for k in keys if k not in ("treatment", "dose")] or ["cell_line"]
    growth = tables["growth"]

    def matching(df):
        mask = pd.Series(True, index=df.index)
        for k, v in keys.items():
            if k != "treatment" and k in df.columns:
                mask &= df[k].astype(str) == str(v)
        return df[mask]

    ctrl = controls.get(treatment, control)
    if response == "dip_rate":
        table, means = tables["dip"], False
    else:
        if hour not in cache:
            ok = growth is not None and set(by) <= set(growth.columns)
            cache[hour] = _per_well_gr(growth, control, controls, by, hour) if ok else None
        table, means = cache[hour], False
        if table is None and tables["gr"] is not None:
            gr = tables["gr"]
            table, means = gr[np.isclose(gr["elapsed_h"], hour)], True
    if table is None or response not in table.columns or "treatment" not in table.columns:
        return None, means, ctrl
    sub = matching(table)
    if "control" in sub.columns:
        named = sub.loc[sub["treatment"] == treatment, "control"].dropna()
        named = named[named.astype(str).str.strip() != ""]
        if len(named):
            ctrl = str(named.iloc[0])
    sub = sub[sub["treatment"].isin([treatment, ctrl])]
    dose = pd.to_numeric(sub["dose"], errors="coerce") if "dose" in sub.columns else np.nan
    dose = dose.where(sub["treatment"] == treatment)
    return pd.DataFrame({"dose": dose, "value": sub[response]}), means, ctrl


def _dose_response_section(tables, run, figs: _Figures, control, colors) -> dict:
    from incugrowth.plots import slug
    from incugrowth.report_figures import dose_response_figure

    dr = tables["dose_response"]
    word = _measure_word(run)
    if dr is None:
        return {
            "note": "dose_response.csv is absent: no treatment was given at 4 or more doses "
            "(the fewest a four-parameter curve needs), so no dose-response curve was fitted."
        }
    if dr.empty or "response" not in dr.columns:
        return {"note": "dose_response.csv is empty: no dose series could be fitted."}
    cols = list(dr.columns)
    keys = [c for c in cols[: cols.index("response")] if c != "dose_unit"]
    series = []
    cache: dict = {}
    groups = dr.groupby(keys, sort=False, dropna=False) if keys else [((), dr)]
    for key, fits in groups:
        key = key if isinstance(key, tuple) else (key,)
        named = dict(zip(keys, key))
        treatment = named.get("treatment", "")
        unit = ""
        if "dose_unit" in fits.columns and fits["dose_unit"].notna().any():
            unit = str(fits["dose_unit"].dropna().iloc[0])
        title = " \u00b7 ".join(str(v) for v in key)
        points, means, ctrl = {}, False, control
        for r in fits.to_dict("records"):
            hour = r.get("at_h")
            hour = float(hour) if hour == hour and hour is not None else None
            got, was_mean, ctrl = _series_points(
                tables, run, control, named, treatment, r["response"], hour, cache
            )
            if got is not None:
                points[r["response"]] = got
                means |= was_mean
        fig = dose_response_figure(
            fits,
            points,
            color=colors.get(treatment, "#0072B2"),
            control_color=colors.get(ctrl, "#000000"),
            dose_unit=unit,
            title=title,
            measure=word,
        )
        at = fits["at_h"].dropna() if "at_h" in fits.columns else pd.Series(dtype=float)
        series.append(
            {
                "title": title,
                "svg": figs.svg(fig, f"dose_response_{slug(title)}"),
                "rows": [_fit_row(r, unit, word) for r in fits.to_dict("records")],
                "control": ctrl,
                "at": _hours(float(at.iloc[0])) if len(at) else "",
                "means": means,
                "unit": unit,
            }
        )
    return {"series": series}
