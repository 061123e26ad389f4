"""The endpoint statistics: wells, ANOVA, Dunnett, assumption rows and their log-scale check."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from incugrowth.report.conditions import _Conditions, _orders
from incugrowth.report.formatting import _hours, format_number, format_p, stars_for_p
from incugrowth.report.inline import _Figures


def _endpoint_section(
    tables,
    figs: _Figures,
    control: str,
    conds: _Conditions,
    colors: dict,
    word: str,
    scale: str = "pct",
) -> dict | None:
    from incugrowth.report_figures import endpoint_figure

    end = tables["endpoint"]
    if end is None or end.empty:
        return None
    value = "pct_change" if "pct_change" in end.columns else "count"
    end = end.assign(condition=conds.label(end))
    lines = [x for x in _orders(tables, control)[0] if (end["cell_line"] == x).any()]
    conditions = conds.ordered(end["condition"])
    used = float(end["endpoint_h"].iloc[0]) if "endpoint_h" in end.columns else None
    fig = endpoint_figure(
        end,
        value=value,
        stars=tables["dunnett"],
        cell_lines=lines,
        control=control,
        x="condition",
        order=conditions,
        colors=colors,
        ylabel=f"Change in {word} (%)" if value == "pct_change" else word.capitalize(),
        endpoint_h=used,
        scale=scale,
    )
    rows = []
    for line in lines:
        sub = end[end["cell_line"] == line]
        cells = []
        for c in conditions:
            w = sub[sub["condition"] == c]
            cells.append([f"{format_number(v)} ({well})" for well, v in zip(w["well"], w[value])])
        rows.append({"cell_line": line, "cells": cells})
    # Many conditions (a dose series) read better down the page than across it.
    transposed = len(conditions) > 6 and len(conditions) > len(lines)
    if transposed:
        rows = [
            {"cell_line": c, "cells": [r["cells"][i] for r in rows]}
            for i, c in enumerate(conditions)
        ]
    # How the dunnett table compared a dose series: each dose on its own (rows named by
    # condition, as `run` does) or all doses together (rows named by the treatment).
    compared = set()
    if tables["dunnett"] is not None and "treatment" in tables["dunnett"].columns:
        compared = set(tables["dunnett"]["treatment"].astype(str))
    series = set(end.loc[end["treatment"].isin(conds.multi), "condition"])
    return {
        "svg": figs.svg(fig, "endpoint"),
        "treatments": lines if transposed else conditions,
        "corner": "Condition" if transposed else "Cell line",
        "doses_apart": bool(series & compared),
        "doses_pooled": bool(conds.multi & compared),
        "rows": rows,
        "endpoint_h": _hours(used),
        "value": f"change in {word} (%)" if value == "pct_change" else word,
    }


def _endpoint_wells_text(end: pd.DataFrame, growth: pd.DataFrame | None) -> str:
    """The wells the endpoint statistics used, as text: those with a value at the endpoint,
    and how many wells of the plate had none there (missing, failed or without a baseline),
    which the statistics left out.

    Examples
    --------
    >>> end = pd.DataFrame({"well": ["B2", "B3", "B4"], "pct_change": [310.0, None, 290.0]})
    >>> _endpoint_wells_text(end, None)
    '2 wells (1 well without a value at the endpoint left out)'
    >>> growth = pd.DataFrame({"well": ["B2", "B3", "B4", "B5"]})
    >>> _endpoint_wells_text(end.fillna(300.0), growth)
    '3 wells (1 well without a value at the endpoint left out)'
    """
    value = "pct_change" if "pct_change" in end.columns else "count"
    used = end.loc[end[value].notna(), "well"].nunique() if value in end.columns else 0
    wells = set(end["well"].dropna())
    if growth is not None and "well" in growth.columns:
        wells |= set(growth["well"].dropna())
    lost = len(wells) - used
    text = f"{used} well{'s' if used != 1 else ''}"
    if lost:
        text += f" ({lost} well{'s' if lost != 1 else ''} without a value at the endpoint left out)"
    return text


def _residual_row(anova: pd.DataFrame) -> pd.Series | None:
    mask = (
        anova["source"]
        .astype(str)
        .str.lower()
        .str.strip()
        .isin(["residual", "residuals", "error", "within", "resid"])
    )
    return anova[mask].iloc[0] if mask.any() else None


def _term_name(source) -> str:
    """``cell_line:treatment`` as ``cell line \u00d7 treatment (interaction)``."""
    text = str(source)
    name = re.sub(r"C\((\w+)[^)]*\)", r"\1", text).replace("_", " ")
    if ":" in name:
        return name.replace(":", " \u00d7 ") + " (interaction)"
    return name


def _anova_kind(anova: pd.DataFrame | None, cell_lines: int | None = None) -> str:
    """``Two-way`` when the table has an interaction term, else ``One-way``.

    An ANOVA that was not computed (no table, or an empty one) is named by the design it
    would have had: two-way when the endpoint has several cell lines (``cell_lines``), else
    one-way.

    Examples
    --------
    >>> one = pd.DataFrame({"source": ["treatment", "Residual"]})
    >>> _anova_kind(one), _anova_kind(one.iloc[0:0], 5), _anova_kind(None, 1)
    ('One-way', 'Two-way', 'One-way')
    """
    if anova is None or "source" not in anova.columns or anova.empty:
        return "One-way" if cell_lines == 1 else "Two-way"
    return "Two-way" if anova["source"].astype(str).str.contains(":").any() else "One-way"


def _n_cell_lines(tables: dict) -> int | None:
    """Number of cell lines the endpoint statistics had (those of the growth table when
    there is no endpoint table), or None when neither says."""
    for name in ("endpoint", "growth"):
        df = tables.get(name)
        if df is not None and "cell_line" in df.columns and len(df):
            return int(df["cell_line"].nunique())
    return None


def _anova_rows(anova: pd.DataFrame | None) -> list[dict] | None:
    if anova is None:
        return None
    rows = []
    for r in anova.to_dict("records"):
        p = r.get("p", np.nan)
        rows.append(
            {
                "source": _term_name(r.get("source", "")),
                "ss": format_number(r.get("ss")),
                # Prism's % of total variation: SS over the total SS of the values (not over the
                # sum of the Type III SS, which falls short of it when the design is unbalanced)
                "pct": format_number(r.get("pct_total"), 3),
                "df": "" if r.get("df") != r.get("df") else f"{float(r.get('df')):g}",
                "ms": format_number(r.get("ms")),
                "f": format_number(r.get("f")),
                "p": format_p(p),
                "stars": stars_for_p(p),
            }
        )
    return rows


def _dunnett_rows(dunnett: pd.DataFrame | None) -> list[dict] | None:
    if dunnett is None:
        return None
    level = "cell_line" if "cell_line" in dunnett.columns else "elapsed_h"
    rows = []
    for r in dunnett.to_dict("records"):
        rows.append(
            {
                "level": r.get(level, ""),
                "comparison": f"{r.get('treatment', '')} vs. {r.get('control', '')}",
                "mean_diff": format_number(r.get("mean_diff")),
                "ci": f"{format_number(r.get('ci_low'))} to {format_number(r.get('ci_high'))}",
                "se": format_number(r.get("se")),
                "t": format_number(r.get("t")),
                "df": "" if r.get("df") != r.get("df") else f"{float(r.get('df')):g}",
                "stars": r.get("stars", ""),
                "p": format_p(r.get("p_adj")),
                "significant": r.get("stars", "NS") not in ("NS", ""),
            }
        )
    return rows


def _generic_rows(df: pd.DataFrame | None) -> dict | None:
    if df is None:
        return None
    cols = list(df.columns)
    rows = []
    for r in df.to_dict("records"):
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, (float, np.floating)) and c.lower() in ("p", "p_value", "pval"):
                cells.append(format_p(v))
            elif isinstance(v, (float, np.floating, int, np.integer)) and not isinstance(v, bool):
                cells.append(format_number(v))
            else:
                cells.append("" if v is None or v != v else str(v))
        rows.append(cells)
    names = {"p": "P value", "p_value": "P value", "ok": "Passed"}
    headers = [names.get(c.lower(), c.replace("_", " ").capitalize()) for c in cols]
    return {"columns": headers, "rows": rows}


def _sensitivity(tables, alpha: float = 0.05, scale: str = "pct") -> dict:
    """Whether each Dunnett comparison keeps its conclusion on the other scale.

    ``scale`` is the run's primary scale (``dunnett.csv``): percent change, with log2 fold
    change beside it in ``dunnett_log2.csv``, or log2 fold change, with percent change in
    ``dunnett_pct.csv``. ``p`` is always the percent-change P value and ``p_log`` the
    log2 one.
    """
    other_name = "dunnett_pct" if scale == "log2" else "dunnett_log2"
    main, logged = tables.get("dunnett"), tables.get(other_name)
    out = _scale_words(scale)
    if main is None or main.empty or "p_adj" not in main.columns:
        return {
            **out,
            "note": "There are no comparisons with the control whose sensitivity to check.",
        }
    if logged is None:
        return {
            **out,
            "note": f"{other_name}.csv is missing: the comparisons were not repeated on "
            f"{out['other']}, so how much the conclusions depend on the assumptions is not "
            "known.",
        }
    if logged.empty or "p_adj" not in logged.columns:
        return {
            **out,
            "note": f"{other_name}.csv is empty: the comparisons on {out['other']} could not "
            "be made.",
        }
    if scale == "log2":  # the columns stay percent change first, log2 second
        main, logged = logged, main
    keys = [
        c
        for c in ("cell_line", "elapsed_h", "treatment", "control")
        if c in main.columns and c in logged.columns
    ]
    both = main[[*keys, "p_adj"]].merge(
        logged[[*keys, "p_adj"]].drop_duplicates(keys),
        on=keys,
        how="left",
        suffixes=("", "_log"),
    )
    compared = both["p_adj"].notna() & both["p_adj_log"].notna()
    sig, sig_log = both["p_adj"] < alpha, both["p_adj_log"] < alpha
    same = compared & (sig == sig_log)
    level = "cell_line" if "cell_line" in keys else "elapsed_h" if "elapsed_h" in keys else None
    differ = [
        {
            "level": r[level] if level else "",
            "treatment": r.get("treatment", ""),
            "control": r.get("control", ""),
            "p": format_p(r["p_adj"]),
            "p_log": format_p(r["p_adj_log"]),
            "where": "percent change only" if r["p_adj"] < alpha else "log scale only",
        }
        for r in both[compared & ~same].to_dict("records")
    ]
    return {
        **out,
        "same": int(same.sum()),
        "total": len(both),
        "unmatched": int((~compared).sum()),
        "differ": differ,
        "level": "Cell line" if level == "cell_line" else "Time (h)",
    }


def _scale_words(scale: str) -> dict:
    """The primary and the other scale of a run, in words, and their files."""
    words = {"pct": "percent change", "log2": "log2 fold change"}
    other = "pct" if scale == "log2" else "log2"
    return {
        "scale": scale,
        "primary": words.get(scale, words["pct"]),
        "other": words[other],
        "other_file": f"dunnett_{other}.csv",
    }


def _scale_advice(assumptions: pd.DataFrame | None, scale: str) -> str | None:
    """A recommendation when the formal assumption checks fail on the primary scale and
    hold on the other (assumptions.csv holds both, a ``scale`` column telling them apart)."""
    from incugrowth.stats.endpoint import failed_checks

    if assumptions is None or assumptions.empty or "scale" not in assumptions.columns:
        return None
    words = _scale_words(scale)
    other = "log2" if scale != "log2" else "pct"
    here = assumptions[assumptions["scale"] == scale]
    there = assumptions[assumptions["scale"] == other]
    failed_here, failed_there = failed_checks(here), failed_checks(there)
    if not failed_here or there.empty:
        return None
    if failed_there:
        return (
            f"The checks fail on {words['primary']} ({'; '.join(failed_here)}) and on "
            f"{words['other']} too ({'; '.join(failed_there)}): look for outlier wells, and "
            "read P values near 0.05 with caution."
        )
    return (
        f"Recommendation: the checks fail on {words['primary']} ({'; '.join(failed_here)}) "
        f"and hold on {words['other']}: the {words['other']} analysis "
        f"({words['other_file']}, or rerun with --scale {other}) is the more reliable one."
    )
