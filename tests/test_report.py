"""Tests of the report: built from a small synthetic run folder (3 cell lines x 4 treatments)."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from incugrowth import dip, doseresponse, kinetics
from incugrowth.errors import IncugrowthError
from incugrowth.report import (
    format_number,
    format_p,
    methods_text,
    read_outputs,
    report_command,
    write_report,
)

LINES = ["M420", "M464", "M407 JAK1-KO"]
TREATMENTS = ["untreated", "IFN gamma", "Lipofectamine", "2'3'-cGAMP"]
TIMES = [0.0, 23.5, 47.5, 71.5, 95.5]
# One P value per comparison (line, treatment), chosen to give every star level.
P_VALUES = {
    ("M420", "IFN gamma"): 0.00001,
    ("M420", "Lipofectamine"): 0.8123,
    ("M420", "2'3'-cGAMP"): 0.0042,
    ("M464", "IFN gamma"): 0.51,
    ("M464", "Lipofectamine"): 0.99999,
    ("M464", "2'3'-cGAMP"): 0.0004,
    ("M407 JAK1-KO", "IFN gamma"): 0.03,
    ("M407 JAK1-KO", "Lipofectamine"): 0.2,
    ("M407 JAK1-KO", "2'3'-cGAMP"): 0.7,
}
RATES = {"untreated": 0.020, "IFN gamma": 0.008, "Lipofectamine": 0.019, "2'3'-cGAMP": 0.010}
# A five-dose series of "drug X" in M420 (rows A and H of the plate): its growth rate falls
# from the control's along a log-logistic curve.
DRUG_DOSES = [0.01, 0.1, 1.0, 10.0, 100.0]
DRUG_WELLS = [f"A{c}" for c in range(1, 13)] + ["H1", "H2", "H3"]
VEHICLES = {"2'3'-cGAMP": "Lipofectamine"}


def _stars(p: float) -> str:
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "NS"


def _well(li: int, ti: int, rep: int) -> str:
    return f"{'BCDEFG'[rep + 3 * (li % 2)]}{2 + ti + 5 * (li // 2)}"


def make_run_folder(outdir: Path, *, frames: str | None = None) -> dict:
    """Write the tables and run.json of a realistic small run into ``outdir``."""
    rng = np.random.default_rng(7)
    plate, counts = [], []
    for li, line in enumerate(LINES):
        for ti, t in enumerate(TREATMENTS):
            for rep in range(3):
                well = _well(li, ti, rep)
                plate.append(
                    {"well": well, "cell_line": line, "treatment": t, "dose": np.nan,
                     "dose_unit": ""}
                )  # fmt: skip
                rate = RATES[t] * (1.0 if line != "M464" or t != "IFN gamma" else 2.4)
                for h in TIMES:
                    for field in (1, 2):
                        n = 120 * np.exp(rate * h) * rng.normal(1, 0.04)
                        counts.append(
                            {"well": well, "field": field, "elapsed_h": h,
                             "count": round(n), "qc_flag": ""}
                        )  # fmt: skip
    for i, well in enumerate(DRUG_WELLS):
        dose = DRUG_DOSES[i // 3]
        plate.append(
            {"well": well, "cell_line": "M420", "treatment": "drug X", "dose": dose,
             "dose_unit": "uM"}
        )  # fmt: skip
        rate = float(doseresponse.ll4(dose, RATES["untreated"], 0.001, 1.0, 1.2))
        for h in TIMES:
            for field in (1, 2):
                n = 120 * np.exp(rate * h) * rng.normal(1, 0.04)
                counts.append(
                    {"well": well, "field": field, "elapsed_h": h, "count": round(n),
                     "qc_flag": ""}
                )  # fmt: skip
    plate = pd.DataFrame(plate)
    counts = pd.DataFrame(counts)
    counts.loc[5, "qc_flag"] = "out_of_focus"
    counts.loc[17, "qc_flag"] = "saturated;count_jump"
    growth = kinetics.growth_table(counts, plate)
    curves = kinetics.condition_curves(growth)
    end = kinetics.endpoint(growth, 72.0)
    rates = kinetics.growth_rates(growth)
    rows = []
    for line in LINES:
        sub = end[end["cell_line"] == line]
        for t in TREATMENTS[1:]:
            control = "Lipofectamine" if t == "2'3'-cGAMP" else "untreated"
            diff = sub.loc[sub.treatment == t, "pct_change"].mean() - (
                sub.loc[sub.treatment == control, "pct_change"].mean()
            )
            p = P_VALUES[(line, t)]
            rows.append(
                {"cell_line": line, "treatment": t, "control": control, "mean_diff": diff,
                 "se": 9.5, "t": diff / 9.5, "df": 24.0, "p_adj": p, "ci_low": diff - 25.1,
                 "ci_high": diff + 25.1, "stars": _stars(p)}
            )  # fmt: skip
    dunnett = pd.DataFrame(rows)
    # The same comparisons on the log scale: other P values, the same conclusions.
    dunnett_log2 = dunnett.assign(p_adj=np.minimum(dunnett["p_adj"] * 1.3, 1.0))
    dunnett_log2["stars"] = dunnett_log2["p_adj"].map(_stars)
    anova = pd.DataFrame(
        {
            "source": ["cell_line", "treatment", "cell_line:treatment", "Residual"],
            "ss": [1.2e4, 9.9e4, 2.1e4, 3.3e3],
            "df": [2.0, 3.0, 6.0, 24.0],
            "ms": [6.0e3, 3.3e4, 3.5e3, 137.5],
            "f": [43.6, 240.0, 25.45, np.nan],
            "p": [1e-8, 1e-17, 0.0123, np.nan],
        }
    )
    checks = pd.DataFrame(
        {
            "check": ["normality of residuals", "equal variances"],
            "test": ["Shapiro-Wilk", "Brown-Forsythe"],
            "statistic": [0.97, 1.3],
            "p": [0.41, 0.27],
            "ok": [True, True],
        }
    )
    fits = [
        doseresponse.dose_response_table(growth, response=response, at_h=72.0, controls=VEHICLES)
        for response in ("gr", "relative_count", "dip_rate")
    ]
    outdir.mkdir(parents=True, exist_ok=True)
    tables = {
        "counts": counts, "growth": growth, "curves": curves, "endpoint": end,
        "growth_rates": rates, "anova": anova, "dunnett": dunnett, "assumptions": checks,
        "dip": dip.dip_rates(growth, control={"untreated", "Lipofectamine"}),
        "gr": dip.gr_values(growth, controls=VEHICLES),
        "dose_response": pd.concat(fits, ignore_index=True),
        "dunnett_log2": dunnett_log2,
    }  # fmt: skip
    for name, df in tables.items():
        df.to_csv(outdir / f"{name}.csv", index=False)
    export = outdir.parent / "export_red_count.txt"
    export.write_text("Date Time\tElapsed\tB2\n", encoding="utf-8")
    run = {
        "incugrowth": "0.1.0",
        "started": "2026-01-05T10:00:00+00:00",
        "finished": "2026-01-05T10:00:09+00:00",
        "parameters": {
            "exports": None if frames else [str(export)],
            "frames": frames,
            "plate_map": "plate_map.csv",
            "outdir": str(outdir),
            "control": "untreated",
            "controls": {"2'3'-cGAMP": "Lipofectamine"},
            "endpoint_h": 72.0,
            "endpoint_tolerance_h": 6.0,
            "baseline_h": None,
            "combine": "mean",
            "metric": "Red Object Count (Per Image)",
            "channel": None,
            "diameter": None,
        },
        "inputs": [
            {"path": "plate_map.csv", "size": 2048, "sha256": "ab" * 32},
            {"path": str(export), "size": 123456, "sha256": "cd" * 32},
        ],
        "timings_s": {"counts": 0.2, "kinetics": 0.1, "stats": 0.3},
        "warnings": ["1 plate-map well(s) have no data: H12"],
        "messages": ["2'3'-cGAMP compared with Lipofectamine"],
        "environment": {"python": "3.11.2", "numpy": "2.4.0", "pandas": "3.1.0",
                        "scipy": "1.17.0", "statsmodels": "0.15.0"},
    }  # fmt: skip
    (outdir / "run.json").write_text(json.dumps(run), encoding="utf-8")
    return tables


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("run") / "out"
    tables = make_run_folder(outdir)
    path = write_report(outdir)
    return path, path.read_text(encoding="utf-8"), tables


def _panels(text: str) -> dict[str, str]:
    found = re.findall(r'<div class="panel" data-cell-line="([^"]*)">(.*?)</div>', text, re.S)
    return {html.unescape(k): v for k, v in found}


def _svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(el.itertext()).strip() for el in root.iter("{http://www.w3.org/2000/svg}text")]


def test_report_written_and_self_contained(report):
    path, text, _ = report
    assert path.name == "report.html" and path.exists()
    assert 'src="http' not in text and "src='http" not in text
    assert not re.search(r"<link\b", text, re.I)
    assert not re.search(r"<script[^>]*\bsrc=", text, re.I)
    assert "@import" not in text and "url(http" not in text
    assert "@media print" in text and "break-before: page" in text


def test_every_image_is_embedded_and_every_svg_parses(report):
    _, text, _ = report
    for tag in re.findall(r"<img\b[^>]*>", text):
        assert 'src="data:image/' in tag
    svgs = re.findall(r"<svg\b.*?</svg>", text, re.S)
    # plate map, 3 growth panels, endpoint dots, GR heat map, DIP dots, one dose-response
    # series, count heat map, count against its condition, QC heat map
    assert len(svgs) == 11
    ids = []
    for svg in svgs:
        root = ET.fromstring(svg)
        ids += [el.get("id") for el in root.iter() if el.get("id")]
    assert len(ids) == len(set(ids)), "figure element ids collide between figures"


def test_every_cell_line_has_a_growth_panel(report):
    _, text, _ = report
    panels = _panels(text)
    assert sorted(panels) == sorted(LINES)
    for line, body in panels.items():
        svg = re.search(r"<svg\b.*?</svg>", body, re.S).group(0)
        assert line in _svg_texts(svg)


def test_stars_agree_with_dunnett(report):
    _, text, tables = report
    dunnett = tables["dunnett"]
    for line, body in _panels(text).items():
        shown = dict(
            (html.unescape(t), s)
            for t, s in re.findall(r'data-treatment="([^"]*)" data-stars="([^"]*)"', body)
        )
        sub = dunnett[dunnett["cell_line"] == line]
        assert shown == dict(zip(sub["treatment"], sub["stars"]))
        # ... and the same marks are written at the end of the curves in the figure.
        svg_texts = _svg_texts(re.search(r"<svg\b.*?</svg>", body, re.S).group(0))
        for mark in sub["stars"]:
            assert svg_texts.count(mark) >= list(sub["stars"]).count(mark)


def test_dunnett_table_is_formatted_like_prism(report):
    _, text, _ = report
    table = re.search(r'<table class="dunnett">.*?</table>', text, re.S).group(0)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)[1:]
    assert len(rows) == len(P_VALUES)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows]
    by_key = {(c[0], html.unescape(c[1]).split(" vs. ")[0]): c for c in cells}
    m420_gamma = by_key[("M420", "IFN gamma")]
    assert m420_gamma[-1] == "&lt;0.0001" and m420_gamma[-2] == "***"
    assert by_key[("M464", "Lipofectamine")][-1] == "&gt;0.9999"
    assert by_key[("M420", "2'3'-cGAMP")][-1] == "0.0042"
    assert " to " in m420_gamma[3]


def test_methods_names_endpoint_control_and_versions(report):
    path, text, _ = report
    methods = html.unescape(re.search(r'id="methods-text">(.*?)</p>', text, re.S).group(1))
    assert "requested at 72 h" in methods and "71.5 h, was used" in methods
    assert "against untreated" in methods and "against Lipofectamine" in methods
    assert "Dunnett" in methods and "multivariate t" in methods
    assert "averaged" in methods and "2 images (fields)" in methods
    # drug X is given to one cell line only: the design is not balanced.
    assert "balanced design" not in methods
    assert "statsmodels 0.15.0" in methods and "incugrowth 0.1.0" in methods
    assert "Red Object Count (Per Image)" in methods


def test_figures_saved_in_three_formats(report):
    path, _, _ = report
    figdir = path.parent / "figures"
    for stem in ("plate_map", "endpoint", "plate_counts", "plate_qc", "growth_M420"):
        for ext in ("png", "svg", "pdf"):
            assert (figdir / f"{stem}.{ext}").stat().st_size > 1000


def test_qc_and_warnings_are_reported(report):
    _, text, _ = report
    assert "2 of 510 images (rows of counts.csv) carry a QC flag" in text
    assert "H12" in text
    for flag in ("out_of_focus", "saturated", "count_jump"):
        assert f"<code>{flag}</code>" in text


def test_missing_statistics_are_reported_not_fatal(report, tmp_path):
    src = report[0].parent
    outdir = tmp_path / "partial"
    shutil.copytree(src, outdir, ignore=shutil.ignore_patterns("figures", "report.html"))
    for name in ("anova", "dunnett", "assumptions", "growth_rates", "endpoint"):
        (outdir / f"{name}.csv").unlink()
    text = write_report(outdir, figures=False).read_text(encoding="utf-8")
    for name in ("anova", "dunnett", "assumptions", "endpoint"):
        assert f"{name}.csv is missing" in text
    assert "growth_rates.csv is missing" in text
    assert "No ANOVA table was produced" in text
    assert sorted(_panels(text)) == sorted(LINES)
    assert not (outdir / "figures").exists()


def test_empty_statistics_tables_are_reported(report, tmp_path):
    outdir = tmp_path / "empty"
    shutil.copytree(report[0].parent, outdir, ignore=shutil.ignore_patterns("figures", "*.html"))
    anova, dunnett = (pd.read_csv(outdir / f"{n}.csv") for n in ("anova", "dunnett"))
    anova.iloc[0:0].to_csv(outdir / "anova.csv", index=False)
    dunnett.iloc[0:0].to_csv(outdir / "dunnett.csv", index=False)
    (outdir / "assumptions.csv").write_text("")
    text = write_report(outdir, figures=False).read_text(encoding="utf-8")
    assert "anova.csv is empty" in text and "dunnett.csv is empty" in text
    assert "assumptions.csv is empty" in text
    assert "No ANOVA table was produced" in text and "No Dunnett comparisons" in text
    assert 'data-stars="' not in text


def test_report_command_needs_a_run_folder(tmp_path):
    with pytest.raises(IncugrowthError, match="growth.csv"):
        report_command(tmp_path)
    with pytest.raises(IncugrowthError, match="no such folder"):
        report_command(tmp_path / "nope")


def test_report_command_writes_prism_tables_and_report(report, tmp_path):
    outdir = tmp_path / "again"
    shutil.copytree(report[0].parent, outdir, ignore=shutil.ignore_patterns("report.html"))
    path = report_command(outdir)
    assert path == outdir / "report.html" and path.exists()
    assert (outdir / "prism" / "prism_endpoint.csv").exists()
    assert (outdir / "prism" / "prism_growth_M407_JAK1-KO.csv").exists()
    assert '<code>prism/</code></td><td class="num">4 files</td>' in path.read_text("utf-8")


def _fake_frame_modules(monkeypatch, folder: Path, *, fail: bool = False):
    """Stand-ins for the frame reader and segmenter: disks on a dark background."""
    from skimage.draw import disk
    from skimage.measure import label

    wells = [_well(li, ti, r) for li in range(3) for ti in range(4) for r in range(3)]
    frames = pd.DataFrame(
        [
            {"path": f"{w}|{h}", "well": w, "field": f, "elapsed_h": h, "channel": "red"}
            for w in wells
            for f in (1, 2)
            for h in TIMES
        ]
    )

    def find_frames(path):
        if fail:
            raise OSError("cannot list the frames folder")
        assert Path(path) == folder
        return frames

    def read_frame(path):
        hours = float(path.split("|")[1])
        img = np.full((300, 320), 200, dtype=np.uint16)
        rng = np.random.default_rng(int(hours))
        for _ in range(5 + int(hours / 10)):
            rr, cc = disk(tuple(rng.integers(10, 290, 2)), 5, shape=img.shape)
            img[rr, cc] = 3000
        return img

    def segment_nuclei(image, *, diameter=None):
        return label(image > 1000)

    fr = types.ModuleType("incugrowth.frames")
    fr.find_frames, fr.read_frame = find_frames, read_frame
    im = types.ModuleType("incugrowth.image")
    im.segment_nuclei = segment_nuclei
    monkeypatch.setitem(sys.modules, "incugrowth.frames", fr)
    monkeypatch.setitem(sys.modules, "incugrowth.image", im)


def test_frame_gallery_shows_control_and_treated_wells(tmp_path, monkeypatch):
    folder = tmp_path / "frames"
    outdir = tmp_path / "out"
    make_run_folder(outdir, frames=str(folder))
    _fake_frame_modules(monkeypatch, folder)
    text = write_report(outdir, figures=False, max_thumbnails=12).read_text(encoding="utf-8")
    img = re.search(r'<img src="data:image/png;base64,([^"]+)"', text).group(1)
    from PIL import Image

    picture = Image.open(io.BytesIO(base64.b64decode(img)))
    assert picture.size[0] > 300 and picture.size[1] > 300
    shown = re.search(r'id="gallery-wells">(.*?)</p>', text, re.S).group(1)
    # 12 thumbnails at 3 time points: 4 wells, the control and the most inhibited treatment
    # (IFN gamma) of the first two cell lines in plate order, first replicate each.
    assert re.findall(r"<code>(\w+)</code>", shown) == ["B2", "B3", "B7", "B8"]
    assert "Nuclei were counted by incugrowth" in text


def test_frame_gallery_failure_is_a_note(tmp_path, monkeypatch):
    folder = tmp_path / "frames"
    outdir = tmp_path / "out"
    make_run_folder(outdir, frames=str(folder))
    _fake_frame_modules(monkeypatch, folder, fail=True)
    text = write_report(outdir, figures=False).read_text(encoding="utf-8")
    assert "The frame gallery was skipped: cannot list the frames folder" in text
    assert "<img" not in text


def test_methods_text_states_baseline_and_sum(report):
    tables, run = read_outputs(report[0].parent)
    run["parameters"]["combine"] = "sum"
    run["parameters"]["baseline_h"] = 24.0
    text = methods_text(tables, run)
    assert "were summed" in text and "baseline time 24 h" in text


def test_number_formats():
    assert format_p(0.00005) == "<0.0001" and format_p(0.012345) == "0.0123"
    assert format_number(-0.000123456) == "-0.0001235" and format_number(98765.4) == "98765"


def _section(text: str, sid: str) -> str:
    """The body of one section of the report, its white space collapsed."""
    body = re.search(rf'<section id="{sid}"[^>]*>(.*?)</section>', text, re.S).group(1)
    return " ".join(body.split())


def test_p_values_formatted_like_prism():
    cases = {
        0.0: "<0.0001", 0.00009: "<0.0001", 0.0001: "0.0001", 0.00042: "0.0004",
        0.0042: "0.0042", 0.03876: "0.0388", 0.40612: "0.4061", 0.05: "0.05", 0.5: "0.5",
        0.99994: "0.9999", 0.99995: ">0.9999", 1.0: ">0.9999", np.nan: "", "n/a": "",
    }  # fmt: skip
    assert {p: format_p(p) for p in cases} == cases


def test_growth_metrics_section_shows_dip_and_gr(report):
    _, text, tables = report
    body = _section(text, "metrics")
    assert "Harris et al., Nat Methods 2016" in body and "Hafner et al., Nat Methods 2016" in body
    assert "GR value at 71.5 h" in body
    # The heat map writes each condition's GR value in its cell (controls left out).
    heat = re.search(r'<figure class="gr-heatmap">(.*?)</figure>', body, re.S).group(1)
    texts = _svg_texts(re.search(r"<svg\b.*?</svg>", heat, re.S).group(0))
    gr = tables["gr"][tables["gr"]["elapsed_h"] == 71.5]
    for line, treatment in (("M464", "IFN gamma"), ("M420", "2'3'-cGAMP"), ("M420", "drug X")):
        sub = gr[(gr["cell_line"] == line) & (gr["treatment"] == treatment)]
        for v in sub["gr"]:
            assert f"{v:.2f}" in texts
    assert "untreated" not in texts  # no control column
    assert "drug X 0.01 uM" in texts and "drug X 100 uM" in texts
    # The table: mean and SD of the wells' DIP rates, and the condition's GR.
    d = tables["dip"]
    wells = d[(d["cell_line"] == "M464") & (d["treatment"] == "IFN gamma")]["dip_rate"]
    row = re.search(r"<tr><td>M464</td><td>IFN gamma</td>(.*?)</tr>", body).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    g = gr[(gr["cell_line"] == "M464") & (gr["treatment"] == "IFN gamma")]["gr"].iloc[0]
    assert cells[:3] == ["3", format_number(wells.mean(), 3), format_number(wells.std(), 2)]
    assert cells[-2] == format_number(g, 3)
    assert re.search(r"<tr><td>M420</td><td>untreated</td>.*?control</td></tr>", body)
    assert 'class="dip-dots"' in body


def test_dose_response_section_reports_the_fits(report):
    _, text, tables = report
    body = _section(text, "doses")
    fits = tables["dose_response"].set_index("response")
    gr50 = fits.loc["gr", "ic50"]
    low, high = fits.loc["gr", "ic50_ci_low"], fits.loc["gr", "ic50_ci_high"]
    assert 0.1 < gr50 < 10  # a well-defined GR50 inside the tested doses
    assert f"GR50 = {format_number(gr50, 3)} uM" in body
    assert f"({format_number(low, 3)} to {format_number(high, 3)})" in body
    assert f"IC50 = {format_number(fits.loc['relative_count', 'ic50'], 3)} uM" in body
    assert f"GRmax = {format_number(fits.loc['gr', 'emax'], 3)}" in body
    assert f"GR_AOC = {format_number(1 - fits.loc['gr', 'auc'], 3)}" in body
    assert "<h3>M420 \u00b7 drug X</h3>" in html.unescape(body)
    svg = re.search(r"<svg\b.*?</svg>", body, re.S).group(0)
    texts = _svg_texts(svg)
    assert {"GR value", "Relative cell count", "DIP rate (doublings/h)"} <= set(texts)
    assert "Dose (uM)" in texts and "control" in texts
    methods = html.unescape(re.search(r'id="methods-text">(.*?)</p>', text, re.S).group(1))
    assert "four-parameter log-logistic" in methods and "F test" in methods
    assert "Wald" in methods and "Hafner" in methods and "DIP" in methods


def test_dose_response_of_a_confluence_run_speaks_of_confluence(report, tmp_path):
    """A run whose growth measure is the phase confluence: the dose-response table, axes and
    texts speak of relative confluence and the change in confluence, not of cell counts."""
    outdir = tmp_path / "out"
    shutil.copytree(report[0].parent, outdir, ignore=shutil.ignore_patterns("figures", "*.html"))
    run = json.loads((outdir / "run.json").read_text(encoding="utf-8"))
    run["parameters"]["measure"] = "confluence"
    (outdir / "run.json").write_text(json.dumps(run), encoding="utf-8")
    text = write_report(outdir, figures=False).read_text("utf-8")
    body = html.unescape(_section(text, "doses"))
    texts = _svg_texts(re.search(r"<svg\b.*?</svg>", body, re.S).group(0))
    assert "Relative confluence" in texts and "Relative cell count" not in texts
    assert "Relative confluence" in re.sub(r"<svg\b.*?</svg>", "", body, flags=re.S)
    assert "IC50 of relative confluence the dose that halves the confluence" in body
    methods = html.unescape(re.search(r'id="methods-text">(.*?)</p>', text, re.S).group(1))
    assert "relative confluence" in methods and "AUC the mean relative confluence" in methods
    for counting in ("relative count", "cell count", "Relative cell count"):
        assert counting not in body and counting not in methods, counting


@pytest.fixture(scope="module")
def variant(report, tmp_path_factory):
    """The report rebuilt after two edits: the GR fit made flat, and one log-scale P value
    moved across 0.05 (M420, Lipofectamine: 0.8123 on percent change, 0.0123 on log)."""
    outdir = tmp_path_factory.mktemp("variant") / "out"
    shutil.copytree(report[0].parent, outdir, ignore=shutil.ignore_patterns("figures", "*.html"))
    fits = pd.read_csv(outdir / "dose_response.csv")
    gr = fits["response"] == "gr"
    fits.loc[gr, ["flat", "ic50", "ic50_ci_low", "ic50_ci_high", "p_flat"]] = [
        True, np.inf, np.nan, np.nan, 0.43
    ]  # fmt: skip
    fits.loc[gr, ["e0", "einf"]] = 0.9
    fits.to_csv(outdir / "dose_response.csv", index=False)
    logged = pd.read_csv(outdir / "dunnett_log2.csv")
    flip = (logged["cell_line"] == "M420") & (logged["treatment"] == "Lipofectamine")
    logged.loc[flip, "p_adj"] = 0.0123
    logged.to_csv(outdir / "dunnett_log2.csv", index=False)
    return write_report(outdir, figures=False).read_text("utf-8")


def test_flat_fit_is_flagged_without_an_ic50(variant):
    body = _section(variant, "doses")
    assert "GR50 = &gt; 100 uM (not reached)" in body
    assert "flat: no effect of dose (F test P = 0.43)" in body


def test_sensitivity_counts_agreeing_comparisons(report, variant):
    body = _section(report[1], "assumptions")
    assert "9 of 9 comparisons reach the same conclusion" in body
    assert "The conclusions would not change" in body
    assert '<table class="sensitivity">' not in body
    body = _section(variant, "assumptions")
    assert "8 of 9 comparisons reach the same conclusion" in body
    assert "1 comparison changes conclusion with the scale" in body
    table = re.search(r'<table class="sensitivity">(.*?)</table>', body, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]
    assert [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows] == [
        ["M420", "Lipofectamine vs. untreated", "0.8123", "0.0123", "log scale only"]
    ]
    assert "8 of 9 comparisons reached the same conclusion" in html.unescape(variant)


def test_absent_growth_metric_tables_give_notes(report, tmp_path):
    outdir = tmp_path / "old"
    shutil.copytree(report[0].parent, outdir, ignore=shutil.ignore_patterns("figures", "*.html"))
    for name in ("dip", "gr", "dose_response", "dunnett_log2"):
        (outdir / f"{name}.csv").unlink()
    text = write_report(outdir, figures=False).read_text(encoding="utf-8")
    assert "dip.csv is missing" in text and "gr.csv is missing" in text
    assert "dose_response.csv is absent" in _section(text, "doses")
    assert "dunnett_log2.csv is missing" in _section(text, "assumptions")
    assert 'class="gr-heatmap"' not in text and 'class="dip-dots"' not in text
    methods = re.search(r'id="methods-text">(.*?)</p>', text, re.S).group(1)
    assert "log-logistic" not in methods and "DIP" not in methods
    # Tables written empty (the run could not compute them) are said to be empty.
    for name in ("dip", "gr", "dose_response", "dunnett_log2"):
        (outdir / f"{name}.csv").write_text("")
    text = write_report(outdir, figures=False).read_text(encoding="utf-8")
    for name in ("dip", "gr", "dose_response", "dunnett_log2"):
        assert f"{name}.csv is empty" in text


def test_endpoint_keeps_doses_apart(report):
    body = _section(report[1], "endpoint")
    assert "<th>Condition</th>" in body  # many conditions: one row each
    for dose in DRUG_DOSES:
        assert f"<td>drug X {dose:g} uM</td>" in body
    # drug X has no comparison in dunnett.csv: the caption claims none for it.
    assert "bracket spanning" not in body and "on its own" not in body


def _chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed")
def test_report_renders_in_headless_chromium(report, tmp_path):
    from PIL import Image

    path = report[0]
    shot = tmp_path / "shot.png"
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
        "--window-size=1280,2000", path.resolve().as_uri(),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (2000, 1280)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
    non_white = (pixels < 235).any(axis=2).mean()
    assert 0.03 < non_white < 0.9


def test_endpoint_figure_marks_each_dose_of_a_series():
    from incugrowth.report_figures import endpoint_figure

    conds = ["untreated", "X 1 uM", "X 10 uM", "X 100 uM"]
    end = pd.DataFrame(
        {
            "cell_line": "M420",
            "well": [f"B{i}" for i in range(2, 14)],
            "treatment": ["untreated"] * 3 + ["X"] * 9,
            "condition": np.repeat(conds, 3),
            "pct_change": np.repeat([300.0, 290.0, 150.0, 20.0], 3) + np.tile([-5, 0, 5], 4),
        }
    )

    def marks(dunnett):
        fig = endpoint_figure(end, stars=dunnett, x="condition", order=conds)
        ax = fig.axes[0]
        return {t.get_position()[0]: t.get_text() for t in ax.texts}, len(ax.collections)

    # `run` compares every dose with the control on its own (rows named by condition).
    per_dose = pd.DataFrame(
        {"cell_line": "M420", "treatment": conds[1:], "stars": ["NS", "**", "***"]}
    )
    shown, _ = marks(per_dose)
    assert shown == {1: "NS", 2: "**", 3: "***"}
    # A comparison naming the treatment covers all its doses: one mark above a bracket.
    pooled = pd.DataFrame({"cell_line": ["M420"], "treatment": ["X"], "stars": ["*"]})
    (shown, n_artists), (_, n_plain) = marks(pooled), marks(None)
    assert shown == {2: "*"} and n_artists == n_plain + 1


def test_growth_curve_legend_states_error_bars_wells_and_endpoint():
    from incugrowth.plots import growth_curve_figure

    curves = pd.DataFrame(
        {
            "cell_line": "M420",
            "treatment": ["untreated"] * 3 + ["IFN gamma"] * 3,
            "elapsed_h": [0.0, 24.0, 48.0] * 2,
            "mean": [0.0, 80.0, 200.0, 0.0, 30.0, 40.0],
            "sd": 5.0,
            "sem": 3.0,
            "n_wells": [3, 3, 3, 3, 2, 3],
        }
    )
    dunnett = pd.DataFrame({"cell_line": ["M420"], "treatment": ["IFN gamma"], "stars": ["**"]})
    fig = growth_curve_figure(curves, stars=dunnett, error="sem", endpoint_h=24.0)
    title = fig.legends[0].get_title().get_text()
    assert title == "Mean \u00b1 SEM of n = 2\u20133 wells\nmarks: Dunnett vs. untreated, 24 h"
    # The mark sits at the curve's value at the endpoint hour, not at its last point.
    mark = next(t for t in fig.axes[0].texts if t.get_text() == "**")
    assert mark.get_position()[1] == pytest.approx(30.0)
    # the hour is named once on the plot: on the dashed line (and in the legend's title)
    assert [t.get_text().strip() for t in fig.axes[0].texts].count("endpoint 24 h") == 1
    fig = growth_curve_figure(curves)
    assert fig.legends[0].get_title().get_text() == "Mean \u00b1 SD of n = 2\u20133 wells"


def test_growth_caption_and_methods_give_the_number_of_wells(report):
    _, text, _ = report
    assert "(n&nbsp;=&nbsp;3 wells at each time point)" in _section(text, "growth")
    methods = html.unescape(re.search(r'id="methods-text">(.*?)</p>', text, re.S).group(1))
    assert "mean \u00b1 SD of the replicate wells of each condition (n = 3 wells)" in methods
    assert "over the whole time course by least squares of ln(count)" in methods


@pytest.fixture(scope="module")
def edited(report, tmp_path_factory):
    """The report rebuilt from a run of one model term, a growth-rate window, per-dose
    comparisons of drug X, and the --time-course tables."""
    outdir = tmp_path_factory.mktemp("edited") / "out"
    shutil.copytree(report[0].parent, outdir, ignore=shutil.ignore_patterns("figures", "*.html"))
    anova = pd.read_csv(outdir / "anova.csv")
    anova[anova["source"].isin(["treatment", "Residual"])].to_csv(outdir / "anova.csv", index=False)
    run = json.loads((outdir / "run.json").read_text("utf-8"))
    run["parameters"]["rate_window"] = [24.0, 96.0]
    (outdir / "run.json").write_text(json.dumps(run), encoding="utf-8")
    dunnett = pd.read_csv(outdir / "dunnett.csv")
    doses = pd.DataFrame(
        {"cell_line": "M420", "treatment": [f"drug X {d:g} uM" for d in DRUG_DOSES],
         "control": "untreated", "p_adj": [0.9, 0.2, 0.004, 0.0002, 0.00001]}
    )  # fmt: skip
    doses["stars"] = doses["p_adj"].map(_stars)
    pd.concat([dunnett, doses]).to_csv(outdir / "dunnett.csv", index=False)
    by_time = pd.DataFrame(
        {"cell_line": "M420", "elapsed_h": [23.5, 47.5, 71.5], "treatment": "IFN gamma",
         "control": "untreated", "df": 96.0, "p_adj": [0.4, 0.02, 0.00002]}
    )  # fmt: skip
    by_time["stars"] = by_time["p_adj"].map(_stars)
    by_time.to_csv(outdir / "dunnett_by_time.csv", index=False)
    pd.DataFrame(
        {"cell_line": "M420", "source": ["treatment", "well", "elapsed_h"], "df": [3, 8, 3],
         "f": [41.0, np.nan, 300.0], "p": [1e-5, np.nan, 1e-9], "eps_gg": [np.nan, np.nan, 0.4],
         "p_gg": [1e-5, np.nan, 0.0123]}
    ).to_csv(outdir / "rm_anova.csv", index=False)  # fmt: skip
    return write_report(outdir, figures=False).read_text("utf-8"), doses


def test_one_way_anova_is_explained_as_one_way(edited):
    body = _section(edited[0], "statistics")
    assert "<h3>One-way ANOVA</h3>" in body
    assert "A one-way analysis of variance" in body and "two-way" not in body.lower()


def test_each_dose_has_its_own_mark_in_the_endpoint_figure(edited):
    text, doses = edited
    body = _section(text, "endpoint")
    assert "compared with the control on its own" in body and "bracket spanning" not in body
    texts = _svg_texts(re.search(r"<svg\b.*?</svg>", body, re.S).group(0))
    i = texts.index("M420")  # the first panel's title follows its marks
    marks = [t for t in texts[:i] if t in ("***", "**", "*", "NS")]
    m420 = _dunnett_of(text, "M420")
    assert sorted(marks) == sorted(m420)


def _dunnett_of(text: str, line: str) -> list[str]:
    table = re.search(r'<table class="dunnett">.*?</table>', text, re.S).group(0)
    rows = [
        re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table)
    ]
    return [r[7] for r in rows if r and r[0] == line]


def test_growth_rate_window_is_stated(edited):
    text = edited[0]
    assert "fitted to each well's counts from 24 h to 96 h gives" in _section(text, "rates")
    methods = html.unescape(re.search(r'id="methods-text">(.*?)</p>', text, re.S).group(1))
    assert "fitted to each well's counts from 24 h to 96 h by least squares" in methods


def test_time_course_tables_are_shown(edited):
    text = edited[0]
    assert '<a href="#timecourse">' in text
    body = _section(text, "timecourse")
    grid = re.search(r'<table class="dunnett-by-time">(.*?)</table>', body).group(1)
    assert re.findall(r"<th[^>]*>([\d.]+ h)</th>", grid) == ["23.5 h", "47.5 h", "71.5 h"]
    cells = re.findall(r'<td class="num stars[^"]*" title="P = ([^"]*)">([^<]*)</td>', grid)
    assert cells == [("0.4", "NS"), ("0.02", "*"), ("&lt;0.0001", "***")]
    rm = re.search(r'<table class="rm-anova">(.*?)</table>', body).group(1)
    assert "<td>time</td>" in rm and ">0.0123<" in rm  # the Greenhouse-Geisser P
    methods = html.unescape(re.search(r'id="methods-text">(.*?)</p>', text, re.S).group(1))
    assert "at each of the 3 time points after the baseline (23.5 h to 71.5 h)" in methods
    assert "(df = 96)" in methods and "Greenhouse" in methods


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed")
def test_printed_report_fits_the_width_of_an_a4_page(report, tmp_path):
    # The print style applied on screen at the width of an A4 page less its margins (186 mm
    # = 703 CSS px): nothing may stick out past the right edge, where print would cut it.
    text = report[1].replace("@media print", "@media all")
    probe = (
        "<script>document.body.dataset.overflow = [...document.querySelectorAll('main *')]"
        ".filter(e => e.getBoundingClientRect().right > innerWidth + 1).length;</script>"
    )
    page = tmp_path / "print.html"
    page.write_text(text.replace("</body>", probe + "</body>"), encoding="utf-8")
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=703,3000",
        "--dump-dom", page.resolve().as_uri(),
    ]  # fmt: skip
    dom = subprocess.run(cmd, check=True, capture_output=True, timeout=120, text=True).stdout
    assert re.search(r'<body data-overflow="(\d+)"', dom).group(1) == "0"


def test_title_names_the_plate_not_the_frames_folder(tmp_path):
    from incugrowth.report import _plate_label

    frames = tmp_path / "plate7" / "frames"
    assert _plate_label({"parameters": {"frames": str(frames)}})[0] == "plate7"
    assert _plate_label({"parameters": {"frames": str(tmp_path / "VID1630")}})[0] == "VID1630"


def test_rate_span_of_wells_without_a_fit_is_left_blank():
    """A condition none of whose wells had a positive count to fit keeps its row (with no
    rate) and an empty span, not "nan-nan h"; otherwise the span covers every fit."""
    from incugrowth.report import _span

    unfit = pd.DataFrame({"start_h": [np.nan, np.nan], "end_h": [np.nan, np.nan]})
    assert _span(unfit) == ""
    some = pd.DataFrame({"start_h": [0.0, np.nan, 4.0], "end_h": [72.0, np.nan, 96.0]})
    assert _span(some) == "0\u201396 h"


def test_methods_count_only_the_wells_with_an_endpoint_value():
    """A well whose endpoint image failed (or that had no baseline) is not in the endpoint
    statistics: the methods give the number of wells the statistics used, and say how many
    were left out, not the number of rows of endpoint.csv."""
    counts = pd.DataFrame(
        {"well": np.repeat(["B2", "B3", "B4", "B5"], 2), "elapsed_h": [0.0, 72.0] * 4,
         "count": [100.0, 400.0, 110.0, np.nan, np.nan, 300.0, 90.0, 350.0]}
    )  # fmt: skip
    plate = pd.DataFrame(
        {"well": ["B2", "B3", "B4", "B5"], "cell_line": "M420",
         "treatment": ["untreated", "untreated", "IFN gamma", "IFN gamma"]}
    )  # fmt: skip
    with pytest.warns(UserWarning):
        growth = kinetics.growth_table(counts, plate)
        end = kinetics.endpoint(growth, 72.0)
    run = {"parameters": {"exports": ["count.txt"], "endpoint_h": 72, "endpoint_tolerance_h": 6}}
    text = methods_text({"growth": growth, "endpoint": end}, run)
    assert "72 h, was used (allowed distance 6 h), with 2 wells (2 wells without a value" in text


def test_anova_not_computed_on_several_cell_lines_is_named_two_way(report, tmp_path):
    """An ANOVA that could not be computed (a cell line without its control) on a plate of
    three cell lines is the two-way ANOVA that is missing, not a one-way one."""
    outdir = tmp_path / "noanova"
    shutil.copytree(report[0].parent, outdir, ignore=shutil.ignore_patterns("figures", "*.html"))
    anova = pd.read_csv(outdir / "anova.csv")
    anova.iloc[0:0].to_csv(outdir / "anova.csv", index=False)
    text = write_report(outdir, figures=False).read_text(encoding="utf-8")
    body = _section(text, "statistics")
    assert "<h3>Two-way ANOVA</h3>" in body and "A two-way analysis of variance" in body
    assert "one-way" not in body.lower()
    outputs = _section(text, "files")
    assert "the two-way ANOVA table at the endpoint" in outputs


def test_output_list_names_a_one_way_anova_one_way(edited):
    outputs = _section(edited[0], "files")
    assert "the one-way ANOVA table at the endpoint" in outputs and "two-way" not in outputs


def test_condition_without_a_growth_rate_is_not_called_no_growth(report, tmp_path):
    """A condition none of whose wells could be fitted (no points in the rate window) has no
    rate: its doubling time is left blank, while a shrinking condition is 'no growth'."""
    outdir = tmp_path / "unfit"
    shutil.copytree(report[0].parent, outdir, ignore=shutil.ignore_patterns("figures", "*.html"))
    rates = pd.read_csv(outdir / "growth_rates.csv")
    unfit = (rates["cell_line"] == "M420") & (rates["treatment"] == "IFN gamma")
    rates.loc[unfit, ["rate_per_h", "rate_se", "doubling_time_h", "r_squared"]] = np.nan
    rates.loc[unfit, ["start_h", "end_h"]] = np.nan
    rates.loc[unfit, "n_points"] = 0
    shrinking = (rates["cell_line"] == "M464") & (rates["treatment"] == "IFN gamma")
    rates.loc[shrinking, "rate_per_h"] = -0.01
    rates.to_csv(outdir / "growth_rates.csv", index=False)
    body = _section(write_report(outdir, figures=False).read_text("utf-8"), "rates")
    rows = {
        tuple(cells[:2]): cells
        for cells in (
            re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", body)
        )
        if cells
    }
    assert rows[("M420", "IFN gamma")][2:6] == ["0", "", "", ""]
    assert rows[("M464", "IFN gamma")][5] == "no growth"


def _rebuilt(report, tmp_path, name, *, measure="count", baseline_h=None) -> str:
    outdir = tmp_path / name
    shutil.copytree(report[0].parent, outdir, ignore=shutil.ignore_patterns("figures", "*.html"))
    run = json.loads((outdir / "run.json").read_text("utf-8"))
    run["parameters"].update(measure=measure, baseline_h=baseline_h)
    (outdir / "run.json").write_text(json.dumps(run), encoding="utf-8")
    if baseline_h is not None:
        growth = pd.read_csv(outdir / "growth.csv")
        growth.assign(baseline_h=23.5).to_csv(outdir / "growth.csv", index=False)
    return write_report(outdir, figures=False).read_text("utf-8")


def test_texts_of_a_confluence_export_speak_of_confluence(report, tmp_path):
    """A run on a confluence metric export: the summary, the DIP notes and the frame note
    speak of confluence, not of a number of cells or of detected nuclei."""
    text = _rebuilt(report, tmp_path, "conf", measure="confluence")
    glance = _section(text, "glance")
    assert "0 % means the same confluence as at the start, 100 % twice the area covered" in glance
    assert "as many cells" not in glance
    metrics = _section(text, "metrics")
    assert "Below the grey line at 0 the confluence falls" in metrics
    assert '("none" when the confluence did not grow)' in metrics
    assert "number of cells" not in metrics
    gallery = _section(text, "gallery")
    assert "The confluence values came from an IncuCyte metric export" in gallery
    assert "nuclei" not in gallery.split("</h2>", 1)[1]
    counted = _rebuilt(report, tmp_path, "count")
    assert "0 % means as many cells as at the start, 100 % twice as many" in _section(
        counted, "glance"
    )
    assert "the number of cells falls" in _section(counted, "metrics")


def test_summary_names_a_chosen_baseline(report, tmp_path):
    """With --baseline the summary says growth is measured from the baseline image, not
    from each well's first image."""
    glance = _section(_rebuilt(report, tmp_path, "base", baseline_h=24.0), "glance")
    assert "of each well since its image at the baseline, 23.5 h: 0 % means as many cells as" in (
        glance
    )
    assert "as at the baseline, 100 %" in glance and "first image" not in glance


def test_settings_of_a_frames_run_say_which_channel_and_leave_out_the_metric(tmp_path):
    """A frames run without --channel counted the red channel: the settings say so instead
    of a bare 'not set', and they leave out the metric, which only an export has."""
    outdir = tmp_path / "frames_run" / "out"
    make_run_folder(outdir, frames=str(tmp_path / "frames"))
    run = json.loads((outdir / "run.json").read_text("utf-8"))
    run["parameters"]["metric"] = None
    (outdir / "run.json").write_text(json.dumps(run), encoding="utf-8")
    text = write_report(outdir, figures=False, gallery=False).read_text("utf-8")
    settings = re.search(r"<h3>Settings</h3>(.*?)</table>", text, re.S).group(1)
    rows = dict(re.findall(r"<tr><th[^>]*>(.*?)</th><td[^>]*>(.*?)</td></tr>", settings))
    assert rows["Channel counted"] == (
        "not set: the red channel when there is one, else the only channel"
    )
    assert "Count metric" not in rows and "Metric" not in rows
