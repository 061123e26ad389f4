"""The experiment summary (plate, inputs, parameters, plate map) and the growth panels."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from incugrowth.report.conditions import _order
from incugrowth.report.formatting import _hours, _human_size, _list_text, _plain, format_p
from incugrowth.report.inline import _Figures

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


def _growth_panels(
    tables, figs: _Figures, control: str, word: str, params: dict | None = None
) -> list[dict]:
    from incugrowth.plots import growth_curve_figure, slug

    params = params or {}
    scale = params.get("scale") or "pct"

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
            ylabel=ylabel, scale=scale,
        )  # fmt: skip
        svg = figs.svg(fig, f"growth_{slug(line)}", overwrite=False)
        panels.append({"cell_line": line, "svg": svg, "comparisons": _comparisons(dunnett, line)})
    if figs.save and not (figs.figdir / "growth_curves.png").exists():
        from incugrowth.plots import save_figure

        fig = growth_curve_figure(
            curves,
            stars=dunnett,
            control=control,
            endpoint_h=at,
            ylabel=ylabel,
            scale=scale,
            sharey=bool(params.get("sharey")),
        )
        figs.saved += save_figure(fig, figs.figdir / "growth_curves")
    return panels
