"""The findings, the warnings and the list of output files."""

from __future__ import annotations

from pathlib import Path

from incugrowth.report.conditions import _orders, _rank
from incugrowth.report.formatting import _human_size

_FILE_NOTES = {
    "counts.csv": "the raw counts: one row per image (or per well) and time point, with QC flags",
    "growth.csv": "one row per well and time point: combined count and percent change",
    "curves.csv": "mean, SD, SEM and number of wells per condition and time point",
    "curves_vs_control.csv": "the curves as percent of the control wells (--normalize)",
    "endpoint.csv": "the growth rows at the endpoint time point (one row per well)",
    "growth_rates.csv": "per-well exponential growth rate and doubling time",
    "anova.csv": "the two-way ANOVA table at the endpoint",
    "dunnett.csv": "Dunnett's comparisons of each treatment with its control",
    "dunnett_log2.csv": "the same comparisons on log2 fold change (sensitivity analysis)",
    "dunnett_pct.csv": "the same comparisons on percent change (with --scale log2)",
    "edge_effects.csv": "outer against inner wells of each condition at the endpoint",
    "assumptions.csv": "checks of the ANOVA assumptions",
    "dip.csv": "drug-induced proliferation (DIP) rates per well",
    "gr.csv": "growth-rate inhibition (GR) values",
    "dose_response.csv": "dose-response fits of treatments given at several doses",
    "dunnett_by_time.csv": "Dunnett's comparisons at every time point (--time-course)",
    "rm_anova.csv": "repeated-measures ANOVA over wells and time, per cell line (--time-course)",
    "dead.csv": "live and dead count and dead fraction per well and time point",
    "dead_curves.csv": "mean, SD, SEM and number of wells of the dead fraction per condition",
    "anova_dead.csv": "the ANOVA table of the dead fraction at the endpoint",
    "dunnett_dead.csv": "Dunnett's comparisons of the dead fraction with the control",
    "effects.csv": "verdict per cell line and treatment: cytotoxic, cytostatic, no effect, unclear",
    "run.json": "parameters, input files (sizes, SHA-256), timings, warnings, software versions",
    "report.html": "this report",
}


def _findings(tables, control: str) -> list[dict]:
    dunnett = tables["dunnett"]
    if dunnett is None or "cell_line" not in dunnett.columns:
        return []
    out = []
    rank = _rank(_orders(tables, control)[0])
    for line, sub in sorted(dunnett.groupby("cell_line", sort=False), key=lambda g: rank(g[0])):
        sig = sub[sub["stars"].isin(["*", "**", "***"])]
        down = sig[sig["mean_diff"] < 0] if "mean_diff" in sig else sig.iloc[0:0]
        up = sig[sig["mean_diff"] > 0] if "mean_diff" in sig else sig.iloc[0:0]
        ns = sub[~sub.index.isin(sig.index)]
        out.append(
            {
                "cell_line": line,
                "down": [f"{t} ({s})" for t, s in zip(down["treatment"], down["stars"])],
                "up": [f"{t} ({s})" for t, s in zip(up["treatment"], up["stars"])],
                "ns": list(ns["treatment"]),
            }
        )
    return out


def _warnings(tables, run) -> dict:
    counts = tables["counts"]
    flagged = 0
    if counts is not None and "qc_flag" in counts.columns:
        flagged = int((counts["qc_flag"].astype(str).str.strip() != "").sum())
    return {
        "warnings": list(run.get("warnings") or []),
        "messages": list(run.get("messages") or []),
        "flagged": flagged,
        "frames": 0 if counts is None else len(counts),
    }


def _outputs(outdir: Path, *, anova_kind: str = "Two-way") -> list[dict]:
    notes = {**_FILE_NOTES, "anova.csv": f"the {anova_kind.lower()} ANOVA table at the endpoint"}
    files = []
    names = {p.name for p in outdir.iterdir() if p.is_file()} | {"report.html"}
    for path in sorted(outdir / n for n in names):
        if not path.name.startswith("."):
            note = notes.get(path.name, "")
            size = _human_size(path.stat().st_size) if path.exists() else ""
            files.append({"name": path.name, "size": size, "note": note})
    folders = {
        "figures": "every figure as PNG, SVG and PDF",
        "prism": "GraphPad Prism-ready tables (see the column-layout note above)",
    }
    for name, note in folders.items():
        folder = outdir / name
        if folder.is_dir():
            n = sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
            files.append({"name": f"{name}/", "size": f"{n} files", "note": note})
    return files
