"""The growth metrics section: growth rates, DIP rates and GR values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from incugrowth.report.conditions import _Conditions, _orders, _rank
from incugrowth.report.formatting import _hours, format_number
from incugrowth.report.inline import _Figures


def _growth_rate_rows(tables, control: str, conds: _Conditions) -> list[dict] | None:
    rates = tables["growth_rates"]
    if rates is None or rates.empty:
        return None
    if not {"cell_line", "treatment"} <= set(rates.columns):
        return None
    rates = rates.assign(condition=conds.label(rates))
    keys = ["cell_line", "condition"]
    line_rank, cond_rank = _rank(_orders(tables, control)[0]), _rank(conds.order)
    rows = []
    groups = list(rates.groupby(keys, sort=False))
    groups.sort(key=lambda g: (line_rank(g[0][0]), cond_rank(g[0][-1])))
    for key, sub in groups:
        key = key if isinstance(key, tuple) else (key,)
        r = sub["rate_per_h"].dropna()
        mean = r.mean() if len(r) else np.nan
        rows.append(
            {
                "cell_line": key[0],
                "treatment": key[1] if len(key) > 1 else "",
                "n": int(len(r)),
                "rate": format_number(mean, 3),
                "rate_sd": format_number(r.std(ddof=1), 2) if len(r) > 1 else "",
                "doubling": (
                    ""
                    if not len(r)
                    else format_number(np.log(2) / mean, 3)
                    if mean > 0
                    else "no growth"
                ),
                "r2": format_number(sub["r_squared"].min(), 3) if "r_squared" in sub else "",
                "span": _span(sub),
            }
        )
    return rows


def _span(rates: pd.DataFrame) -> str:
    """Hours the growth-rate fits of some wells cover (``"0–72 h"``), ``""`` when no
    well had a point to fit."""
    if not {"start_h", "end_h"} <= set(rates.columns) or rates["start_h"].isna().all():
        return ""
    return f"{rates['start_h'].min():g}\u2013{rates['end_h'].max():g} h"


def _rate_window(run: dict) -> str:
    """The hours of the growth-rate fits as text: ``"from 24 h to 96 h"``, or ``""`` for the
    whole time course."""
    window = (run.get("parameters") or {}).get("rate_window")
    if not window:
        return ""
    start, end = (None if v is None else float(v) for v in window)
    if start is None and end is None:
        return ""
    if end is None:
        return f"from {start:g} h on"
    if start is None:
        return f"up to {end:g} h"
    return f"from {start:g} h to {end:g} h"


# Growth-rate metrics (DIP, GR) ------------------------------------------------------------


def _gr_time(gr: pd.DataFrame, tables, run) -> float:
    """The hour of the GR heat map: the endpoint used, else the nearest to the one asked."""
    times = np.sort(gr["elapsed_h"].dropna().unique())
    end = tables["endpoint"]
    if end is not None and len(end) and "endpoint_h" in end.columns:
        used = float(end["endpoint_h"].iloc[0])
        if np.isclose(times, used).any():
            return float(times[np.isclose(times, used)][0])
    params = run.get("parameters") or {}
    asked = params.get("endpoint_h")
    if asked is not None and len(times):
        nearest = float(times[np.argmin(np.abs(times - float(asked)))])
        if abs(nearest - float(asked)) <= float(params.get("endpoint_tolerance_h") or 6.0):
            return nearest
    return float(times[-1])


def _not_self(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of conditions other than a control compared with itself (GR = 1 by definition)."""
    if "control" not in df.columns:
        return df
    return df[df["treatment"].astype(str) != df["control"].astype(str)]


def _growth_metrics(tables, run, figs: _Figures, control, conds, colors) -> dict:
    from incugrowth.report_figures import endpoint_figure, gr_heatmap_figure

    dip, gr = tables["dip"], tables["gr"]
    lines = _orders(tables, control)[0]
    out: dict = {"dip_svg": None, "gr_svg": None, "rows": [], "notes": [], "gr_at": ""}
    gr_end = pd.DataFrame(columns=["cell_line", "condition", "gr", "relative_count"])
    if gr is None:
        out["notes"].append("gr.csv is missing: no GR values were computed for this run.")
    elif gr.empty or not {"gr", "elapsed_h", "cell_line", "treatment"} <= set(gr.columns):
        out["notes"].append("gr.csv is empty: GR values could not be computed.")
    else:
        at = _gr_time(gr, tables, run)
        out["gr_at"] = _hours(at)
        sub = _not_self(gr[np.isclose(gr["elapsed_h"], at)])
        gr_end = sub.assign(condition=conds.label(sub))
        if gr_end["gr"].notna().any():
            matrix = gr_end.drop_duplicates(["cell_line", "condition"])
            matrix = matrix.set_index(["cell_line", "condition"])["gr"].unstack()
            rows = [x for x in lines if x in matrix.index]
            rows += [x for x in matrix.index if x not in rows]
            matrix = matrix.reindex(index=rows, columns=conds.ordered(matrix.columns))
            fig = gr_heatmap_figure(matrix, label=f"GR value at {at:g} h")
            out["gr_svg"] = figs.svg(fig, "gr_heatmap")
        else:
            out["notes"].append(
                f"gr.csv has no GR value at {at:g} h (the controls had not grown since time zero)."
            )
    gr_of = {
        (r["cell_line"], r["condition"]): r
        for r in gr_end.to_dict("records")
        if r["cell_line"] == r["cell_line"]
    }
    self_controls = set()
    if gr is not None and "control" in gr.columns and "treatment" in gr.columns:
        self_controls = set(gr.loc[gr["treatment"] == gr["control"], "treatment"])
    if dip is None:
        out["notes"].append("dip.csv is missing: no DIP rates were computed for this run.")
        dip = pd.DataFrame(columns=["cell_line", "treatment", "dip_rate"])
    elif dip.empty or not {"dip_rate", "cell_line", "treatment"} <= set(dip.columns):
        out["notes"].append("dip.csv is empty: DIP rates could not be computed.")
        dip = pd.DataFrame(columns=["cell_line", "treatment", "dip_rate"])
    dip = dip.assign(condition=conds.label(dip))
    if dip["dip_rate"].notna().any():
        present = [x for x in lines if (dip["cell_line"] == x).any()]
        fig = endpoint_figure(
            dip,
            value="dip_rate",
            cell_lines=present,
            control=control,
            x="condition",
            order=conds.ordered(dip["condition"]),
            colors=colors,
            ylabel="DIP rate (doublings/h)",
        )
        out["dip_svg"] = figs.svg(fig, "dip_rates")
    keys = list(dict.fromkeys([*zip(dip["cell_line"], dip["condition"]), *gr_of]))
    line_rank, cond_rank = _rank(lines), _rank(conds.order)
    keys.sort(key=lambda k: (line_rank(k[0]), cond_rank(k[1])))
    for line, cond in keys:
        sub = dip[(dip["cell_line"] == line) & (dip["condition"] == cond)]
        r = sub["dip_rate"].dropna()
        mean = r.mean() if len(r) else np.nan
        g = gr_of.get((line, cond), {})
        first = sub["first_h"].dropna() if "first_h" in sub.columns else pd.Series(dtype=float)
        out["rows"].append(
            {
                "cell_line": line,
                "condition": cond,
                "n": int(len(r)),
                "dip": format_number(mean, 3),
                "dip_sd": format_number(r.std(ddof=1), 2) if len(r) > 1 else "",
                "doubling": format_number(1 / mean, 3)
                if mean > 0
                else ("" if mean != mean else "none"),
                "window": (
                    ""
                    if first.empty
                    else f"{first.min():g} h"
                    if first.min() == first.max()
                    else f"{first.min():g}\u2013{first.max():g} h"
                ),
                "gr": format_number(g.get("gr"), 3) if g else "",
                "relative": format_number(g.get("relative_count"), 3) if g else "",
                "is_control": not g and cond in self_controls,
            }
        )
    return out
