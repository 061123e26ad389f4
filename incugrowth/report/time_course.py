"""The time-course section: repeated-measures ANOVA and Dunnett's stars at every time."""

from __future__ import annotations

import numpy as np

from incugrowth.report.conditions import _orders, _rank
from incugrowth.report.endpoint import _term_name
from incugrowth.report.formatting import _hours, _list_text, format_number, format_p, stars_for_p

_RM_TERMS = {"well": "wells within treatment (error)", "Residual": "Residual (within wells)"}


def _time_course(tables, control: str) -> dict | None:
    """The ``--time-course`` tables: the repeated-measures ANOVA and, per cell line, the
    Dunnett summary of every comparison at every time point (a grid of stars)."""
    rm, by_time = tables["rm_anova"], tables["dunnett_by_time"]
    if rm is None and by_time is None:
        return None
    out: dict = {"rm": None, "grid": None, "times": []}
    if rm is not None and not rm.empty and "source" in rm.columns:
        rows = []
        for r in rm.to_dict("records"):
            p = r.get("p_gg", np.nan)
            p = r.get("p", np.nan) if p != p else p
            rows.append(
                {
                    "cell_line": r.get("cell_line", ""),
                    "source": _RM_TERMS.get(str(r["source"]))
                    or _term_name(r["source"]).replace("elapsed h", "time"),
                    "df": "" if r.get("df") != r.get("df") else f"{float(r['df']):g}",
                    "f": format_number(r.get("f")),
                    "eps": format_number(r.get("eps_gg"), 3),
                    "p": format_p(p),
                    "stars": stars_for_p(p),
                }
            )
        out["rm"] = rows
    needed = {"cell_line", "elapsed_h", "treatment", "control", "stars"}
    if by_time is not None and not by_time.empty and needed <= set(by_time.columns):
        times = sorted(by_time["elapsed_h"].dropna().unique())
        rank = _rank(_orders(tables, control)[0])
        grid = []
        keys = by_time.drop_duplicates(["cell_line", "treatment", "control"])
        keys = sorted(keys.to_dict("records"), key=lambda r: rank(r["cell_line"]))
        for k in keys:
            sub = by_time[
                (by_time["cell_line"] == k["cell_line"])
                & (by_time["treatment"] == k["treatment"])
                & (by_time["control"] == k["control"])
            ]
            at = dict(zip(sub["elapsed_h"], zip(sub["stars"], sub.get("p_adj", sub["stars"]))))
            cells = [
                {"stars": at[t][0], "p": format_p(at[t][1])} if t in at else None for t in times
            ]
            grid.append(
                {
                    "cell_line": k["cell_line"],
                    "comparison": f"{k['treatment']} vs. {k['control']}",
                    "cells": cells,
                }
            )
        out["grid"], out["times"] = grid, [_hours(t) for t in times]
        dfs = sorted(by_time["df"].dropna().unique()) if "df" in by_time.columns else []
        out["df"] = _list_text(f"{d:g}" for d in dfs)
    return out
