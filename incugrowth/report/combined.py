"""The report of combined plates: ``report.html`` of an ``incugrowth combine`` folder.

Built only from what :func:`incugrowth.combine.combine_runs` wrote (its CSV tables and
``run.json``): the Figure 4 panels from the plate means (error bars across plates), the
block ANOVA and Dunnett tables, a forest plot of each comparison plate by plate beside the
combined estimate, whether the plates agree, the mixed-model sensitivity analysis and the
methods paragraph. The page shares the style sheet of the one-plate report.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from incugrowth import __version__
from incugrowth._io import atomic_path
from incugrowth.errors import IncugrowthError
from incugrowth.report.endpoint import _anova_rows, _dunnett_rows
from incugrowth.report.formatting import _list_text, format_number, format_p
from incugrowth.report.inline import _Figures
from incugrowth.report.writer import _template

__all__ = ["combined_methods_text", "write_combined_report"]

#: The tables of a combine folder and what each holds (the output list of the report).
COMBINED_FILES = {
    "plate_means": "each plate x condition at the endpoint: mean, SD and number of wells",
    "endpoint": "the endpoint wells of every plate (column plate)",
    "curves": "mean of the plate means at each time, SD and SEM across plates, n_plates",
    "plate_curves": "each plate's mean curve per condition",
    "anova": "two-way ANOVA of the plate means with the plate as a block (Type III)",
    "dunnett": "each treatment against its control per cell line, from the block model",
    "dunnett_mixed": "the same comparisons from the mixed model of the wells (sensitivity)",
    "plate_agreement": "plate x treatment interaction tested on the wells, per cell line",
    "dunnett_by_plate": "each plate's own Dunnett comparisons (from its run)",
    "dead": "live and dead count and dead fraction per well and time of every plate",
    "dead_curves": "dead fraction: mean of the plate means at each time, SD and SEM, n_plates",
    "anova_dead": "two-way ANOVA of the plate means of the dead fraction, plate as a block",
    "dunnett_dead": "each treatment against its control on the dead fraction (block model)",
    "effects": "verdict per cell line and treatment: cytotoxic, cytostatic, no effect, unclear",
}


def _read(outdir: Path) -> tuple[dict, dict]:
    try:
        run = json.loads((outdir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IncugrowthError(f"{outdir}: no readable run.json of a combine ({exc})") from None
    if run.get("command") != "combine":
        raise IncugrowthError(f"{outdir}: run.json is not that of `incugrowth combine`")
    tables = {}
    for name in COMBINED_FILES:
        path = outdir / f"{name}.csv"
        tables[name] = pd.read_csv(path) if path.exists() else None
    return tables, run


def _style() -> str:
    """The style sheet of the one-plate report, so that both reports look the same."""
    text = (Path(__file__).parent.parent / "templates" / "report.html.j2").read_text("utf-8")
    found = re.search(r"<style>(.*?)</style>", text, flags=re.S)
    return found.group(1) if found else ""


def _word(run: dict) -> str:
    return "confluence" if run["parameters"].get("measure") == "confluence" else "cell count"


def _n_text(values) -> str:
    n = pd.Series(values).dropna().astype(int)
    if n.empty:
        return ""
    lo, hi = int(n.min()), int(n.max())
    return f"{lo}" if lo == hi else f"{lo}\u2013{hi}"


def _panels(tables, run, figs: _Figures, control: str) -> dict:
    from incugrowth.plots import growth_curve_figure
    from incugrowth.report.combined_figures import plate_means_figure

    word = _word(run)
    means, curves, dunnett = tables["plate_means"], tables["curves"], tables["dunnett"]
    out = {"n_plates": _n_text(means.groupby(["cell_line", "treatment"])["plate"].nunique())}
    out["endpoint_svg"] = Markup(
        figs.svg(
            plate_means_figure(
                means, stars=dunnett, control=control, ylabel=f"Change in {word} (%)"
            ),
            "plate_means",
        )
    )
    at = float(means["endpoint_h"].mean())
    fig = growth_curve_figure(
        curves,
        stars=dunnett,
        control=control,
        endpoint_h=at,
        ylabel=f"Change in {word} (%)",
        replicates="plates",
    )
    out["curves_svg"] = Markup(figs.svg(fig, "growth_curves"))
    return out


def _forest(tables, run, figs: _Figures) -> str | None:
    from incugrowth.report.combined_figures import forest_figure

    dunnett = tables["dunnett"]
    if dunnett is None or dunnett.empty:
        return None
    fig = forest_figure(
        dunnett, tables["dunnett_by_plate"], xlabel=f"Difference in change in {_word(run)} (%)"
    )
    return Markup(figs.svg(fig, "forest"))


def _agreement(tables) -> dict:
    """The interaction tests and each comparison plate by plate beside the combined one."""
    agreement = tables["plate_agreement"]
    tests = []
    if agreement is not None:
        for r in agreement.to_dict("records"):
            tests.append(
                {
                    "cell_line": "all cell lines" if r["cell_line"] == "all" else r["cell_line"],
                    "f": format_number(r["f"]),
                    "df": f"{int(r['df'])}",
                    "p": format_p(r["p"]),
                    "flag": r["p"] < 0.05,
                }
            )
    dunnett, by_plate = tables["dunnett"], tables["dunnett_by_plate"]
    plates = [] if by_plate is None else list(dict.fromkeys(by_plate["plate"]))
    keys = ["cell_line", "treatment", "control"]
    own = {} if by_plate is None else {k: g for k, g in by_plate.groupby(keys, sort=False)}
    mixed = tables["dunnett_mixed"]
    mixed_of = (
        {} if mixed is None else {tuple(r[k] for k in keys): r for r in mixed.to_dict("records")}
    )
    rows = []
    for r in [] if dunnett is None else dunnett.to_dict("records"):
        key = tuple(r[k] for k in keys)
        sub = own.get(key)
        cells = []
        for plate in plates:
            hit = None if sub is None else sub[sub["plate"] == plate]
            if hit is None or hit.empty:
                cells.append({"diff": "not on this plate", "stars": ""})
            else:
                h = hit.iloc[0]
                cells.append({"diff": format_number(h["mean_diff"]), "stars": h["stars"]})
        m = mixed_of.get(key)
        rows.append(
            {
                "cell_line": r["cell_line"],
                "comparison": f"{r['treatment']} vs. {r['control']}",
                "plates": cells,
                "diff": format_number(r["mean_diff"]),
                "stars": r["stars"],
                "mixed_p": "" if m is None else format_p(m["p_adj"]),
                "mixed_stars": "" if m is None else m["stars"],
                "same": m is not None and (m["stars"] == "NS") == (r["stars"] == "NS"),
                "split": sub is not None
                and len({s == "NS" for s in sub["stars"]} | {r["stars"] == "NS"}) > 1,
            }
        )
    return {"tests": tests, "plates": plates, "rows": rows}


def _mixed(tables, run) -> dict:
    results = (run.get("results") or {}).get("mixed_model") or {}
    variances = results.get("variances") or {}
    rows = _agreement(tables)["rows"]
    return {
        "computed": tables["dunnett_mixed"] is not None,
        "variances": {k: format_number(v) for k, v in variances.items()},
        "same": sum(r["same"] for r in rows),
        "total": len(rows),
        "differ": [r for r in rows if not r["same"]],
    }


def combined_methods_text(tables: dict, run: dict) -> str:
    """The methods paragraph of a combined analysis, from its tables and ``run.json``.

    Examples
    --------
    >>> means = pd.DataFrame({"plate": ["d1", "d2"], "cell_line": "A", "treatment": "x",
    ...                       "endpoint_h": 72.0, "mean": [1.0, 2.0], "sd": 0.5, "n_wells": 3})
    >>> run = {"parameters": {"plates": ["d1", "d2"], "control": "untreated", "controls": {},
    ...                       "endpoint_h": 72.0, "measure": "count"}}
    >>> text = combined_methods_text({"plate_means": means, "dunnett": None}, run)
    >>> text.split(", each")[0]
    'Two plates (d1 and d2)'
    >>> "no exact small-sample degrees of freedom" in text
    True
    """
    params = run["parameters"]
    plates = params.get("plates") or []
    word = _word(run)
    means = tables["plate_means"]
    number = {2: "Two", 3: "Three", 4: "Four", 5: "Five"}.get(len(plates), str(len(plates)))
    wells = _n_text(means["n_wells"]) if means is not None else ""
    controls = params.get("controls") or {}
    vehicle = "; ".join(f"{t} was compared with {c}" for t, c in controls.items())
    text = [
        f"{number} plates ({_list_text(plates)}), each analysed with incugrowth "
        f"{run.get('incugrowth', __version__)}, were combined with the plate as the unit of "
        f"replication. The change in {word} (%) at {float(params['endpoint_h']):g} h was "
        f"averaged over the replicate wells of each plate and condition ({wells} wells), and "
        f"the plate means were analysed by two-way ANOVA with the plate as a block "
        f"(pct_change ~ plate + cell line x treatment; Type III sums of squares, sum-to-zero "
        f"contrasts). Within each cell line, each treatment was compared with "
        f"{params.get('control', 'untreated')}"
        + (f" ({vehicle})" if vehicle else "")
        + " by Dunnett's method using that model's residual mean square and degrees of "
        "freedom (estimated marginal means; single-step adjusted P values and simultaneous "
        "95 % confidence intervals from the multivariate t distribution), as R's "
        'emmeans(lm(...), ~ treatment | cell_line) with adjust = "mvt" does.',
        "As a sensitivity analysis the wells were fitted by a linear mixed model with a random "
        "intercept per plate and per plate x condition (REML, statsmodels MixedLM), with the "
        "same comparisons as Wald z tests; this model gives no exact small-sample degrees of "
        "freedom, so its P values are approximate and somewhat liberal with few plates.",
        "Whether the plates agree was tested by the plate x treatment interaction on the "
        "wells (F test of the additive model against the plate x condition means, per cell "
        "line). Error bars are the SD across plates (n = plates). *** P<0.001, ** P<0.01, "
        "* P<0.05, NS not significant.",
    ]
    if means is not None and len(plates):
        counts = means.groupby(["cell_line", "treatment"], sort=False)["plate"].nunique()
        fewer = [f"{c} x {t} ({n} plates)" for (c, t), n in counts.items() if n < len(plates)]
        if fewer:
            text.append(
                f"{_list_text(fewer)} {'was' if len(fewer) == 1 else 'were'} not on every "
                f"plate and analysed on the plates that had {'it' if len(fewer) == 1 else 'them'}."
            )
    from incugrowth.report.combined_dead import combined_dead_methods

    dead = combined_dead_methods(tables, run)
    return " ".join([*text, dead] if dead else text)


def _outputs(outdir: Path) -> list[dict]:
    from incugrowth.report.formatting import _human_size

    out = []
    for name, note in COMBINED_FILES.items():
        path = outdir / f"{name}.csv"
        if path.exists():
            out.append({"name": path.name, "size": _human_size(path.stat().st_size), "note": note})
    prism = sorted((outdir / "prism").glob("prism_*.csv"))
    if prism:
        out.append(
            {
                "name": "prism/",
                "size": "",
                "note": f"{len(prism)} Prism tables, one column per plate (<treatment>_<plate>)",
            }
        )
    return out


def write_combined_report(outdir: str | os.PathLike, *, figures: bool = True) -> Path:
    """Write ``OUTDIR/report.html`` of a folder written by ``incugrowth combine``.

    Parameters
    ----------
    outdir : path
        The output folder of :func:`incugrowth.combine.combine_runs`.
    figures : bool
        Also save the report's figures (``plate_means``, ``growth_curves``, ``forest``) as
        PNG, SVG and PDF in ``OUTDIR/figures``.

    Returns
    -------
    Path
        The report written.
    """
    outdir = Path(outdir)
    from incugrowth.report.combined_dead import combined_dead_section

    tables, run = _read(outdir)
    for needed in ("plate_means", "curves"):
        if tables[needed] is None:
            raise IncugrowthError(f"{outdir / (needed + '.csv')}: not found; rerun the combine")
    params = run["parameters"]
    control = params.get("control", "untreated")
    figs = _Figures(outdir / "figures", figures)
    means = tables["plate_means"]
    dunnett = _dunnett_rows(tables["dunnett"])
    context = {
        "style": Markup(_style()),
        "title": f"Combined report: {len(params.get('plates') or [])} plates",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "version": run.get("incugrowth", __version__),
        "control": control,
        "measure": _word(run),
        "plates": [
            {
                "name": i["plate"],
                "path": i["path"],
                "endpoint_h": f"{float(i['endpoint_h']):g}",
                "wells": i.get("wells"),
            }  # fmt: skip
            for i in run.get("inputs") or []
        ],
        "facts": {
            "cell_lines": len(means["cell_line"].unique()),
            "treatments": len(means["treatment"].unique()),
            "endpoint_h": f"{float(params['endpoint_h']):g} h",
            "n_plates": len(params.get("plates") or []),
        },
        "panels": _panels(tables, run, figs, control),
        "anova": _anova_rows(tables["anova"]),
        "dunnett": dunnett,
        "df_resid": (run.get("results") or {}).get("block_model", {}).get("df_resid"),
        "forest": _forest(tables, run, figs),
        "agreement": _agreement(tables),
        "mixed": _mixed(tables, run),
        "dead": combined_dead_section(tables, run),
        "warnings": list(run.get("warnings") or []),
        "messages": list(run.get("messages") or []),
        "methods": combined_methods_text(tables, run),
        "outputs": _outputs(outdir),
        "environment": run.get("environment") or {},
        "significant": sum(r["significant"] for r in dunnett or []),
        "n_max": int(np.max(means.groupby(["cell_line", "treatment"])["plate"].nunique())),
    }
    html = _template("combined.html.j2").render(**context)
    path = outdir / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path
