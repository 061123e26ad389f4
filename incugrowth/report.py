"""The report: ``report.html`` rebuilt from the tables a run left in its output folder.

The report reads only what :func:`incugrowth.pipeline.run` wrote (the CSV tables and
``run.json``), so it can be rebuilt at any time with ``incugrowth report OUTDIR``. It is one
self-contained HTML file: figures are inline SVG (or base64 PNG for the frame pictures), the
style sheet is inline, nothing is fetched from the network, and it prints cleanly. Its figures
are also saved as PNG, SVG and PDF in ``OUTDIR/figures``.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import math
import os
import re
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from incugrowth import __version__
from incugrowth._io import atomic_path
from incugrowth.errors import IncugrowthError
from incugrowth.pipeline import TABLES

__all__ = [
    "TABLE_FILES",
    "format_number",
    "format_p",
    "methods_text",
    "read_outputs",
    "report_command",
    "stars_for_p",
    "write_report",
]

#: Tables the report reads from the output folder (``<name>.csv``): those `run` writes.
TABLE_FILES = TABLES
_STRING_COLUMNS = (
    "well",
    "cell_line",
    "treatment",
    "control",
    "stars",
    "qc_flag",
    "source",
    "response",
)
_GALLERY_CROP = 256

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
    "assumptions.csv": "checks of the ANOVA assumptions",
    "dip.csv": "drug-induced proliferation (DIP) rates per well",
    "gr.csv": "growth-rate inhibition (GR) values",
    "dose_response.csv": "dose-response fits of treatments given at several doses",
    "dunnett_by_time.csv": "Dunnett's comparisons at every time point (--time-course)",
    "rm_anova.csv": "repeated-measures ANOVA over wells and time, per cell line (--time-course)",
    "run.json": "parameters, input files (sizes, SHA-256), timings, warnings, software versions",
    "report.html": "this report",
}


# --------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------


def format_p(p) -> str:
    """A P value as GraphPad Prism writes it: ``<0.0001``, else at most 4 decimals.

    Trailing zeros are dropped; values that would round to 1 are ``>0.9999``.

    Examples
    --------
    >>> [format_p(p) for p in (0.00001, 0.0001234, 0.0042, 0.03876, 0.40612, 0.5)]
    ['<0.0001', '0.0001', '0.0042', '0.0388', '0.4061', '0.5']
    >>> [format_p(p) for p in (0.99994, 0.99996, 1.0, float("nan"), None)]
    ['0.9999', '>0.9999', '>0.9999', '', '']
    """
    try:
        p = float(p)
    except (TypeError, ValueError):
        return ""
    if p != p:
        return ""
    if p < 0.0001:
        return "<0.0001"
    text = f"{p:.4f}"
    if float(text) > 0.9999:
        return ">0.9999"
    return text.rstrip("0").rstrip(".")


def format_number(x, digits: int = 4) -> str:
    """``x`` to ``digits`` significant digits, never in scientific notation; blank for NaN.

    Examples
    --------
    >>> [format_number(v) for v in (1234.56, -123.456, 0.012345, 0, 7.0, float("nan"))]
    ['1235', '-123.5', '0.01235', '0', '7.000', '']
    """
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "" if x is None else str(x)
    if x != x:
        return ""
    if x == 0:
        return "0"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


def stars_for_p(p) -> str:
    """Significance summary of a P value: ``***`` (<0.001), ``**`` (<0.01), ``*`` (<0.05), ``NS``.

    Examples
    --------
    >>> [stars_for_p(p) for p in (0.0002, 0.004, 0.03, 0.2)]
    ['***', '**', '*', 'NS']
    """
    try:
        p = float(p)
    except (TypeError, ValueError):
        return ""
    if p != p:
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "NS"


def _human_size(n) -> str:
    try:
        n = float(n)
    except (TypeError, ValueError):
        return ""
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def _hours(h) -> str:
    return "" if h is None or h != h else f"{float(h):g} h"


def _plain(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "not set"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k} \u2192 {v}" for k, v in value.items()) or "none"
    return str(value)


# --------------------------------------------------------------------------------------
# Reading the output folder
# --------------------------------------------------------------------------------------


def _read_table(path: Path) -> pd.DataFrame:
    try:
        head = pd.read_csv(path, nrows=0)
    except pd.errors.EmptyDataError:  # a table that could not be computed, written empty
        return pd.DataFrame()
    dtype = {c: str for c in head.columns if c in _STRING_COLUMNS or c == "dose_unit"}
    # "NA" or "None" can be a treatment name; only truly empty cells are missing.
    df = pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=["", "NaN", "nan"])
    for col in ("qc_flag", "stars"):
        if col in df.columns:
            df[col] = df[col].fillna("")
    return df


def read_outputs(outdir: str | os.PathLike) -> tuple[dict[str, pd.DataFrame | None], dict]:
    """The tables (``None`` where a file is missing) and ``run.json`` of an output folder."""
    outdir = Path(outdir)
    tables: dict[str, pd.DataFrame | None] = {}
    for name in TABLE_FILES:
        path = outdir / f"{name}.csv"
        tables[name] = _read_table(path) if path.exists() else None
    run_path = outdir / "run.json"
    run = json.loads(run_path.read_text(encoding="utf-8")) if run_path.exists() else {}
    return tables, run


# --------------------------------------------------------------------------------------
# Figures into HTML
# --------------------------------------------------------------------------------------

_ID_RE = re.compile(r'(\bid=")([^"]+)(")')
_REF_RE = re.compile(r'(url\(#|href="#)([^)"]+)')


def _svg_text(fig) -> str:
    import matplotlib as mpl

    from incugrowth.plots import STYLE

    buf = io.StringIO()
    with mpl.rc_context(STYLE):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _inline_svg(text: str, prefix: str) -> str:
    """An SVG document as an inline ``<svg>`` element, its ids made unique within the page."""
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = _ID_RE.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}{m.group(3)}", text)
    return _REF_RE.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)


def _png_data_uri(fig, dpi: int = 150) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class _Figures:
    """Turns figures into page markup and saves them into ``figures/``."""

    def __init__(self, figdir: Path, save: bool):
        self.figdir = figdir
        self.save = save
        self.saved: list[Path] = []
        self._n = itertools.count(1)

    def svg(self, fig, stem: str | None, *, overwrite: bool = True) -> str:
        saved = self._save(fig, stem, overwrite)
        # Drawing is the slow part: reuse the SVG file just saved rather than draw again.
        text = saved.read_text(encoding="utf-8") if saved is not None else _svg_text(fig)
        return _inline_svg(text, f"f{next(self._n)}")

    def png(self, fig, stem: str | None) -> str:
        self._save(fig, stem, True)
        return _png_data_uri(fig)

    def _save(self, fig, stem, overwrite) -> Path | None:
        """Save ``fig`` in every format; the SVG path, or None when nothing was saved."""
        if not self.save or stem is None:
            return None
        if not overwrite and (self.figdir / f"{stem}.png").exists():
            return None
        from incugrowth.plots import save_figure

        paths = save_figure(fig, self.figdir / stem)
        self.saved += paths
        return next((p for p in paths if p.suffix == ".svg"), None)


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


def _control_of(run: dict) -> str:
    return (run.get("parameters") or {}).get("control") or "untreated"


def _order(values, control: str) -> list:
    seen = list(dict.fromkeys(v for v in values if v == v))
    return sorted(seen, key=lambda t: t != control)


def _orders(tables, control: str) -> tuple[list, list]:
    """Cell lines and treatments in plate-map order (control first), used by every section."""
    source = tables["curves"] if tables["curves"] is not None else tables["growth"]
    return list(dict.fromkeys(source["cell_line"])), _order(source["treatment"], control)


def _rank(order: list):
    index = {v: i for i, v in enumerate(order)}
    return lambda v: index.get(v, len(index))


def _dose_key(dose) -> float:
    try:
        dose = float(dose)
    except (TypeError, ValueError):
        return -math.inf
    return -math.inf if dose != dose else dose


class _Conditions:
    """Condition labels: the treatment, with its dose when the treatment has several doses.

    Built once from the growth table so that every table and figure names (and orders) the
    conditions alike: treatments in plate order with the control first, doses ascending.
    """

    def __init__(self, source: pd.DataFrame, treatments: list):
        from incugrowth.plots import condition_label

        has_dose = "dose" in source.columns
        cols = [c for c in ("treatment", "dose", "dose_unit") if c in source.columns]
        unique = source[cols].drop_duplicates([c for c in cols if c != "dose_unit"])
        self.multi: set = set()
        if has_dose:
            n_doses = unique.groupby("treatment")["dose"].nunique()
            self.multi = set(n_doses[n_doses > 1].index)
        rank = _rank(treatments)
        records = sorted(
            unique.to_dict("records"),
            key=lambda r: (rank(r["treatment"]), _dose_key(r.get("dose"))),
        )
        self.labels = {
            self._key(r): condition_label(r, r["treatment"] in self.multi) for r in records
        }
        self.order = list(dict.fromkeys(self.labels.values()))

    @staticmethod
    def _key(r) -> tuple:
        dose = _dose_key(r.get("dose", np.nan))
        return (r["treatment"], None if dose == -math.inf else dose)

    def label(self, df: pd.DataFrame) -> pd.Series:
        """The condition label of each row of ``df`` (``treatment``, optionally ``dose``)."""
        from incugrowth.plots import condition_label

        records = df[[c for c in ("treatment", "dose", "dose_unit") if c in df.columns]]
        out = [
            self.labels.get(self._key(r)) or condition_label(r, r["treatment"] in self.multi)
            for r in records.to_dict("records")
        ]
        return pd.Series(out, index=df.index, dtype=object)

    def ordered(self, present) -> list:
        present = set(present)
        extra = [c for c in dict.fromkeys(present) if c not in self.order]
        return [c for c in self.order if c in present] + sorted(extra, key=str)


def _colors(tables) -> dict[str, str]:
    """Treatment colours as the growth-curve figures assign them (order of the curves)."""
    from incugrowth.plots import treatment_colors

    source = tables["curves"] if tables["curves"] is not None else tables["growth"]
    return treatment_colors(list(dict.fromkeys(source["treatment"])))


_GENERIC_FOLDERS = {"frames", "images", "image", "tif", "tiff", "tiffs", "export", "exports",
                    "red", "green", "phase", "scandata"}  # fmt: skip


def _plate_label(run: dict) -> tuple[str, dict]:
    params = run.get("parameters") or {}
    preamble: dict = {}
    for path in params.get("exports") or []:
        try:
            from incugrowth.exports import read_export

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                preamble = dict(read_export(path).attrs.get("preamble") or {})
        except Exception:  # the export may have moved since the run; the label is optional
            preamble = {}
        break
    for key in ("Vessel Name", "Label", "Plate"):
        if preamble.get(key):
            return str(preamble[key]), preamble
    for path in [params.get("frames"), *(params.get("exports") or [])]:
        if path:
            path = Path(path)
            # An image export usually sits in a folder named after its content ("frames",
            # "images"): the folder above names the plate.
            if path.name.lower() in _GENERIC_FOLDERS and path.resolve().parent.name:
                return path.resolve().parent.name, preamble
            return path.stem, preamble
    return Path(params.get("outdir") or ".").name, preamble


def _metric_of(params: dict, counts: pd.DataFrame | None) -> str:
    if params.get("metric"):
        return str(params["metric"])
    if counts is not None and "metric" in counts.columns:
        return _list_text(dict.fromkeys(counts["metric"].dropna()))
    return ""


def _experiment(tables, run, figs: _Figures, control: str, colors: dict) -> dict:
    from incugrowth.report_figures import plate_map_figure

    growth = tables["growth"]
    counts = tables["counts"]
    params = run.get("parameters") or {}
    plate, preamble = _plate_label(run)
    inputs = [
        {
            "path": rec.get("path", ""),
            "name": Path(rec.get("path", "")).name,
            "kind": rec.get("kind", "file"),
            "size": _human_size(rec.get("size")),
            "files": rec.get("files"),
            "sha256": rec.get("sha256", ""),
        }
        for rec in run.get("inputs", [])
    ]
    times = np.sort(growth["elapsed_h"].dropna().unique()) if growth is not None else np.array([])
    n_fields = None
    if counts is not None and "field" in counts.columns and counts["field"].notna().any():
        n_fields = int(counts.groupby(["well", "elapsed_h"])["field"].nunique().max())
    facts = {
        "plate": plate,
        "wells": int(growth["well"].nunique()) if growth is not None else 0,
        "cell_lines": list(dict.fromkeys(growth["cell_line"])) if growth is not None else [],
        "treatments": _order(growth["treatment"], control) if growth is not None else [],
        "time_points": len(times),
        "first_h": _hours(times[0]) if len(times) else "",
        "last_h": _hours(times[-1]) if len(times) else "",
        "interval_h": _hours(float(np.median(np.diff(times)))) if len(times) > 1 else "",
        "fields": n_fields,
        "started": run.get("started", ""),
        # during a run the report is written before run.json gets its finishing time
        "finished": run.get("finished") or datetime.now(UTC).isoformat(timespec="seconds"),
    }
    labels = {
        "exports": "Metric export(s)",
        "frames": "Image export folder",
        "plate_map": "Plate map",
        "control": "Control treatment",
        "controls": "Treatment-specific controls (given to the run)",
        "endpoint_h": "Endpoint requested (h)",
        "endpoint_tolerance_h": "Endpoint tolerance (h)",
        "baseline_h": "Baseline time (h)",
        "combine": "Fields of a well combined by",
        "metric": "Count metric",
        "channel": "Channel counted",
        "diameter": "Nucleus diameter (px)",
    }
    if params.get("measure") == "confluence":
        labels["channel"] = "Channel measured"
        labels["metric"] = "Metric"
    shown = [
        {"name": labels[k], "value": _plain(params.get(k))}
        for k in labels
        if k in params
        and not (k in ("channel", "diameter") and not params.get("frames"))
        and not (k == "diameter" and params.get("measure") == "confluence")
        and not (k == "metric" and params.get("frames"))  # metrics are an export's
    ]
    used_metric = _metric_of(params, counts)
    for row in shown:
        if row["name"] == labels["metric"] and params.get("metric") is None and used_metric:
            row["value"] = f"{used_metric} (the export's count metric)"
        if row["name"] == labels["channel"] and params.get("channel") is None:
            row["value"] = "not set: the red channel when there is one, else the only channel"
    dunnett = tables["dunnett"]
    if dunnett is not None and {"treatment", "control"} <= set(dunnett.columns):
        pairs = dunnett.groupby("control", sort=False)["treatment"].unique()
        text = "; ".join(f"{c} for {', '.join(ts)}" for c, ts in pairs.items())
        shown.append({"name": "Controls used in the comparisons", "value": text})
    plate_svg = None
    if growth is not None and len(growth):
        cols = ["well", "cell_line", "treatment"]
        fig = plate_map_figure(growth[cols].drop_duplicates("well"), control=control, colors=colors)
        plate_svg = figs.svg(fig, "plate_map")
    extra = {k: v for k, v in preamble.items() if v}
    return {
        "facts": facts,
        "inputs": inputs,
        "parameters": shown,
        "preamble": extra,
        "plate_svg": plate_svg,
    }


def _comparisons(dunnett: pd.DataFrame | None, cell_line) -> list[dict]:
    if dunnett is None or "cell_line" not in dunnett.columns:
        return []
    sub = dunnett[dunnett["cell_line"] == cell_line]
    return [
        {
            "treatment": r["treatment"],
            "control": r.get("control", ""),
            "stars": r.get("stars", ""),
            "p": format_p(r.get("p_adj")),
        }
        for r in sub.to_dict("records")
    ]


def _baseline_words(growth: pd.DataFrame | None, run: dict) -> dict[str, str]:
    """What percent change is measured from, in words: ``since`` (``"its first image"``, or
    ``"its image at the baseline, 24 h"`` when the run chose a baseline) and ``start``
    (``"the start"`` or ``"the baseline"``).

    Examples
    --------
    >>> g = pd.DataFrame({"baseline_h": [24.0, 24.0]})
    >>> _baseline_words(g, {"parameters": {"baseline_h": 24}})["since"]
    'its image at the baseline, 24 h'
    >>> _baseline_words(g, {"parameters": {"baseline_h": None}})["start"]
    'the start'
    """
    chosen = ((run or {}).get("parameters") or {}).get("baseline_h")
    if chosen is None:
        return {"since": "its first image", "start": "the start"}
    at = float(chosen)
    if growth is not None and "baseline_h" in growth.columns and growth["baseline_h"].notna().any():
        at = float(growth["baseline_h"].dropna().min())
    return {"since": f"its image at the baseline, {at:g} h", "start": "the baseline"}


def _n_wells(curves: pd.DataFrame | None) -> str:
    from incugrowth.plots import n_wells_text

    return "" if curves is None else n_wells_text(curves)


def _measure_word(run: dict | None) -> str:
    """The growth measure of a run in words (``"cell count"``, or ``"confluence"`` when
    the run measured phase confluence instead of counting nuclei)."""
    from incugrowth.pipeline import measure_word

    return measure_word(((run or {}).get("parameters") or {}).get("measure", "count"))


def _growth_panels(tables, figs: _Figures, control: str, word: str) -> list[dict]:
    from incugrowth.plots import growth_curve_figure, slug

    ylabel = f"Change in {word} (%)"
    curves, dunnett = tables["curves"], tables["dunnett"]
    if curves is None or curves.empty:
        return []
    end = tables["endpoint"]
    at = float(end["endpoint_h"].iloc[0]) if end is not None and len(end) else None
    panels = []
    lines = list(dict.fromkeys(curves["cell_line"]))
    for line in lines:
        fig = growth_curve_figure(
            curves, cell_lines=[line], stars=dunnett, control=control, endpoint_h=at,
            ylabel=ylabel,
        )  # fmt: skip
        svg = figs.svg(fig, f"growth_{slug(line)}", overwrite=False)
        panels.append({"cell_line": line, "svg": svg, "comparisons": _comparisons(dunnett, line)})
    if figs.save and not (figs.figdir / "growth_curves.png").exists():
        from incugrowth.plots import save_figure

        fig = growth_curve_figure(
            curves, stars=dunnett, control=control, endpoint_h=at, ylabel=ylabel
        )
        figs.saved += save_figure(fig, figs.figdir / "growth_curves")
    return panels


def _endpoint_section(
    tables, figs: _Figures, control: str, conds: _Conditions, colors: dict, word: str
) -> dict | None:
    from incugrowth.report_figures import endpoint_figure

    end = tables["endpoint"]
    if end is None or end.empty:
        return None
    value = "pct_change" if "pct_change" in end.columns else "count"
    end = end.assign(condition=conds.label(end))
    lines = [x for x in _orders(tables, control)[0] if (end["cell_line"] == x).any()]
    conditions = conds.ordered(end["condition"])
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
    used = float(end["endpoint_h"].iloc[0]) if "endpoint_h" in end.columns else None
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


# Dose-response -----------------------------------------------------------------------------


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


# Sensitivity of the conclusions ------------------------------------------------------------


def _sensitivity(tables, alpha: float = 0.05) -> dict:
    """Whether each Dunnett comparison keeps its conclusion on the log2 fold-change scale."""
    main, logged = tables["dunnett"], tables["dunnett_log2"]
    if main is None or main.empty or "p_adj" not in main.columns:
        return {"note": "There are no comparisons with the control whose sensitivity to check."}
    if logged is None:
        return {
            "note": "dunnett_log2.csv is missing: the comparisons were not repeated on the log "
            "scale, so how much the conclusions depend on the assumptions is not known."
        }
    if logged.empty or "p_adj" not in logged.columns:
        return {"note": "dunnett_log2.csv is empty: the log-scale comparisons could not be made."}
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
        "same": int(same.sum()),
        "total": len(both),
        "unmatched": int((~compared).sum()),
        "differ": differ,
        "level": "Cell line" if level == "cell_line" else "Time (h)",
    }


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


def _plate_maps(tables, figs: _Figures, word: str = "cell count") -> dict:
    from incugrowth.report_figures import plate_heatmap_figure, plate_shape

    growth, counts, end = tables["growth"], tables["counts"], tables["endpoint"]
    out: dict = {"counts_svg": None, "qc_svg": None, "qc_total": 0, "qc_kinds": []}
    if growth is None or growth.empty:
        return out
    shape = plate_shape(list(growth["well"].unique()))
    if end is not None and len(end) and "endpoint_h" in end.columns:
        at = float(end["endpoint_h"].iloc[0])
    else:
        at = float(growth["elapsed_h"].max())
    out["counts_at"] = _hours(at)
    # the endpoint's rows (one scan, whose wells may lie minutes apart), else the last time
    rows = end if end is not None and len(end) else growth[growth["elapsed_h"] == at]
    values = rows.drop_duplicates("well").set_index("well")["count"]
    fig = plate_heatmap_figure(values, label=f"{word.capitalize()} at {at:g} h", shape=shape)
    out["counts_svg"] = figs.svg(fig, "plate_counts")
    if counts is None or "qc_flag" not in counts.columns:
        out["qc_note"] = "The counts table has no QC flag column."
        return out
    flagged = counts[counts["qc_flag"].astype(str).str.strip() != ""]
    out["qc_total"] = len(flagged)
    out["qc_frames"] = len(counts)
    kinds = flagged["qc_flag"].astype(str).str.split(";").explode()
    out["qc_kinds"] = [
        {"flag": k, "n": int(n)} for k, n in kinds[kinds != ""].value_counts().items()
    ]
    if len(flagged):
        per_well = flagged.groupby("well").size().reindex(growth["well"].unique(), fill_value=0)
        fig = plate_heatmap_figure(
            per_well.astype(float),
            label="Flagged images (all times)",
            cmap="Reds",
            shape=shape,
            vmin=0,
            integer=True,
        )
        out["qc_svg"] = figs.svg(fig, "plate_qc")
    return out


def _gallery_wells(tables, control: str, max_wells: int, available=None) -> list[dict]:
    """One control and one treated well per cell line: the treated one with the lowest mean.

    Only wells in ``available`` (the wells that have frames) are considered, when given.
    """
    end = tables["endpoint"]
    source = end if end is not None and len(end) else tables["growth"]
    if available is not None:
        source = source[source["well"].isin(set(available))]
    value = "pct_change" if "pct_change" in source.columns else "count"
    picks = []
    for line in _orders(tables, control)[0]:
        sub = source[source["cell_line"] == line]
        ctrl = sub[sub["treatment"] == control]
        treated = sub[sub["treatment"] != control]
        if len(ctrl):
            picks.append({"well": ctrl["well"].iloc[0], "cell_line": line, "treatment": control})
        if len(treated):
            means = treated.groupby("treatment", sort=False)[value].mean()
            t = means.idxmin() if means.notna().any() else means.index[0]
            well = treated.loc[treated["treatment"] == t, "well"].iloc[0]
            picks.append({"well": well, "cell_line": line, "treatment": t})
    return picks[:max_wells]


def _center_crop(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return arr[top : top + size, left : left + size]


def _tile_title(hours: float, labels: np.ndarray) -> str:
    """Tile title: the nuclei outlined in the crop shown, and in the whole frame when larger.

    Examples
    --------
    >>> labels = np.zeros((600, 600), dtype=int)
    >>> labels[300, 300], labels[5, 5] = 1, 2
    >>> _tile_title(24.0, labels)
    '24 h: 1 nucleus in crop\\n(2 in whole frame)'
    >>> _tile_title(0.0, labels[:200, :200])
    '0 h: 1 nucleus (whole frame)'
    """
    total = int(np.unique(labels[labels > 0]).size)
    crop = _center_crop(labels, _GALLERY_CROP)
    noun = "nucleus" if total == 1 else "nuclei"
    if crop.shape == labels.shape:
        return f"{hours:g} h: {total} {noun} (whole frame)"
    shown = int(np.unique(crop[crop > 0]).size)
    noun = "nucleus" if shown == 1 else "nuclei"
    return f"{hours:g} h: {shown} {noun} in crop\n({total} in whole frame)"


def _gallery(tables, run, figs: _Figures, control: str, max_thumbnails: int) -> dict:
    params = run.get("parameters") or {}
    folder = params.get("frames")
    if not folder:
        if _measure_word(run) == "confluence":
            return {
                "note": "The confluence values came from an IncuCyte metric export, so this run "
                "has no frames of its own to show; run with --frames to see the area measured."
            }
        return {
            "note": "The counts came from an IncuCyte metric export, so this run has no frames "
            "of its own to show; run with --frames to see the detected nuclei."
        }
    try:
        from incugrowth.frames import find_frames, read_frame
        from incugrowth.report_figures import frame_gallery_figure, outline_nuclei

        confluence = _measure_word(run) == "confluence"
        if confluence:
            from incugrowth.image import phase_mask
        else:
            from incugrowth.image import segment_nuclei

        frames = find_frames(folder)
        try:
            from incugrowth.frames import select_channel

            frames = select_channel(frames, params.get("channel"))
        except ImportError:
            pass
        rows = []
        picks = _gallery_wells(
            tables, control, max(1, max_thumbnails // 3), available=frames["well"].unique()
        )
        for pick in picks:
            sub = frames[frames["well"] == pick["well"]]
            if sub.empty:
                continue
            sub = sub[sub["field"] == sub["field"].min()]
            times = np.sort(sub["elapsed_h"].unique())
            chosen = dict.fromkeys([times[0], times[len(times) // 2], times[-1]])
            tiles = []
            for t in chosen:
                path = sub.loc[sub["elapsed_h"] == t, "path"].iloc[0]
                image = read_frame(path)
                if confluence:  # the area counted as covered by cells, outlined
                    mask = phase_mask(image)
                    labels, title = mask.astype(np.int32), f"{t:g} h: {mask.mean():.0%} covered"
                else:
                    labels = segment_nuclei(image, diameter=params.get("diameter"))
                    title = _tile_title(t, labels)
                crop = _center_crop(outline_nuclei(image, labels), _GALLERY_CROP)
                tiles.append((crop, title))
            rows.append((f"{pick['well']}\n{pick['cell_line']}\n{pick['treatment']}", tiles))
        if not rows:
            return {"note": f"No frames of the chosen wells were found in {folder}."}
        fig = frame_gallery_figure(rows)
        return {"img": figs.png(fig, "frame_gallery"), "wells": picks, "folder": str(folder)}
    except Exception as exc:  # the gallery is an illustration: never fail the report for it
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {"note": f"The frame gallery was skipped: {text}"}


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


# --------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------


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
    logged = tables.get("dunnett_log2")
    if logged is not None and len(logged):
        sens = _sensitivity({"dunnett": tables.get("dunnett"), "dunnett_log2": logged})
        agree = (
            f"; {sens['same']} of {sens['total']} comparisons reached the same conclusion at P<0.05"
            if "total" in sens
            else ""
        )
        parts.append(
            "As a sensitivity analysis, the endpoint ANOVA and Dunnett's comparisons were "
            "repeated on the log2 fold change, log2(N(t) / N(t\u2080)), which makes the spread "
            "of growing "
            f"cultures more even{agree}."
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


def _list_text(items) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


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
            "window sigma 1.5 px, as in PHANTAST) exceeds 3 times that of the empty dish "
            "(the flattest 2 % of the frame, at most 0.012) and at least 0.01, small holes "
            "filled, the bright halo around cells peeled and debris removed "
            "(incugrowth.image.phase_confluence)."
        )
    elif params.get("frames"):
        diameter = params.get("diameter")
        size = (
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
        parts.append(
            f"At the endpoint, the change in {word} was analysed by {kind} ANOVA with the "
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
    # Software.
    soft = [f"incugrowth {run.get('incugrowth', __version__)}"]
    if env.get("python"):
        soft.append(f"Python {env['python']}")
    soft += [f"{k} {env[k]}" for k in ("numpy", "pandas", "scipy", "statsmodels") if env.get(k)]
    if params.get("frames"):  # the counter's own libraries
        soft += [f"{k} {env[k]}" for k in ("scikit-image", "opencv", "numba") if env.get(k)]
    parts.append(f"Software: {', '.join(soft)}.")
    return " ".join(parts)


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def _template():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2")


def write_report(
    outdir: str | os.PathLike,
    *,
    figures: bool = True,
    gallery: bool = True,
    max_thumbnails: int = 12,
) -> Path:
    """Rebuild ``OUTDIR/report.html`` from the tables and ``run.json`` in ``OUTDIR``.

    Parameters
    ----------
    outdir : path
        A folder written by :func:`incugrowth.pipeline.run`. ``growth.csv`` and
        ``curves.csv`` are needed; any of ``endpoint``, ``growth_rates``, ``dip``, ``gr``,
        ``dose_response``, ``anova``, ``dunnett``, ``dunnett_log2`` and ``assumptions`` may be
        missing, and the report says so.
    figures : bool
        Also save the report's figures as PNG, SVG and PDF in ``OUTDIR/figures``.
    gallery : bool
        Show frames with the detected nuclei outlined (runs that counted frames only).
    max_thumbnails : int
        Most frame pictures in the gallery (three time points per well).

    Returns
    -------
    Path
        The report written.
    """
    from markupsafe import Markup

    outdir = Path(outdir)
    tables, run = read_outputs(outdir)
    for needed in ("growth", "curves"):
        if tables[needed] is None:
            raise IncugrowthError(
                f"{outdir / (needed + '.csv')}: not found; the report is built from the tables "
                "of a finished run (incugrowth run ... -o OUTDIR)"
            )
    control = _control_of(run)
    figs = _Figures(outdir / "figures", figures)
    colors = _colors(tables)
    conds = _Conditions(tables["growth"], _orders(tables, control)[1])
    experiment = _experiment(tables, run, figs, control, colors)
    word = _measure_word(run)
    endpoint = _endpoint_section(tables, figs, control, conds, colors, word)
    kind = _anova_kind(tables["anova"], _n_cell_lines(tables))
    context = {
        "title": f"Growth report: {experiment['facts']['plate']}",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "version": run.get("incugrowth", __version__),
        "control": control,
        "experiment": experiment,
        "panels": _growth_panels(tables, figs, control, word),
        "measure": word,
        "quantity": "confluence" if word == "confluence" else "count",
        "quantities": "confluence values" if word == "confluence" else "counts",
        "growth_n": _n_wells(tables["curves"]),
        **_baseline_words(tables["growth"], run),
        "endpoint": endpoint,
        "findings": _findings(tables, control),
        "anova": _anova_rows(tables["anova"]),
        "anova_kind": kind,
        "dunnett": _dunnett_rows(tables["dunnett"]),
        "dunnett_level": (
            "Cell line"
            if tables["dunnett"] is None or "cell_line" in tables["dunnett"].columns
            else "Time (h)"
        ),
        "assumptions": _generic_rows(tables["assumptions"]),
        "sensitivity": _sensitivity(tables),
        "time_course": _time_course(tables, control),
        "metrics": _growth_metrics(tables, run, figs, control, conds, colors),
        "doses": _dose_response_section(tables, run, figs, control, colors),
        "rates": _growth_rate_rows(tables, control, conds),
        "rate_window": _rate_window(run),
        "plates": _plate_maps(tables, figs, word),
        "gallery": (
            _gallery(tables, run, figs, control, max_thumbnails)
            if gallery
            else {"note": "The frame gallery was not requested."}
        ),
        "warnings": _warnings(tables, run),
        "methods": methods_text(tables, run),
        "outputs": _outputs(outdir, anova_kind=kind),
        "timings": run.get("timings_s") or {},
        "environment": run.get("environment") or {},
        "Markup": Markup,
    }
    html = _template().render(**context)
    path = outdir / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


def report_command(outdir: str | os.PathLike) -> Path:
    """What ``incugrowth report OUTDIR`` does: the Prism tables (``OUTDIR/prism``), then the report.

    Raises :class:`~incugrowth.errors.IncugrowthError` when ``outdir`` is not the output of a
    run.
    """
    outdir = Path(outdir)
    if not outdir.is_dir():
        raise IncugrowthError(f"{outdir}: no such folder; give the output folder of a run")
    if not (outdir / "growth.csv").exists():
        raise IncugrowthError(
            f"{outdir}: no growth.csv here; give the -o folder of a finished 'incugrowth run'"
        )
    from incugrowth.prism import write_prism_tables

    tables, run = read_outputs(outdir)
    write_prism_tables(
        outdir / "prism", tables["growth"], tables["endpoint"], control=_control_of(run)
    )
    return write_report(outdir)
