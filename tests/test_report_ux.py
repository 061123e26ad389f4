"""What the report shows a new user: warnings first, the scale of the test and its advice,
the endpoint hour on the endpoint figure, the edge-effect check, and each warning once."""

import html
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from incugrowth.cli import main
from incugrowth.pipeline import run
from incugrowth.report import write_report

DATA = Path(__file__).parents[1] / "sample_data"
EXPORT = DATA / "export_red_count.txt"
PLATE = DATA / "plate_map.csv"


def _section(text: str, sid: str) -> str:
    body = re.search(rf'<section id="{sid}"[^>]*>(.*?)</section>', text, re.S).group(1)
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", body).split()))


@pytest.fixture(scope="module")
def typo_report(tmp_path_factory):
    """The sample plate with one 'untreated' well typed 'Untreated', report included."""
    tmp = tmp_path_factory.mktemp("typo")
    plate = pd.read_csv(PLATE)
    plate.loc[plate["well"] == "A1", "treatment"] = "Untreated"
    path = tmp / "plate_map.csv"
    plate.to_csv(path, index=False)
    res = run(exports=EXPORT, plate_map=path, outdir=tmp / "out", figures=False, progress=False)
    return res, (tmp / "out" / "report.html").read_text(encoding="utf-8")


def test_the_warnings_open_the_report(typo_report):
    res, text = typo_report
    glance = _section(text, "glance")
    assert glance.startswith("At a glance 3 warnings: ")
    for warning in res.warnings:
        assert warning in glance
    assert "'Untreated' (well A1) looks like a typo of 'untreated'" in glance
    assert "ANOVA not computed" in glance


def test_the_report_recommends_the_scale_whose_checks_hold(typo_report):
    _, text = typo_report
    body = _section(text, "assumptions")
    assert "The primary analysis (anova.csv, dunnett.csv) is on percent change" in body
    assert (
        "Recommendation: the checks fail on percent change (Shapiro-Wilk P = 2e-05) and hold "
        "on log2 fold change" in body
    )
    assert "dunnett_log2.csv" in body


def test_the_endpoint_figure_says_its_hour_and_the_vehicle_control(typo_report):
    _, text = typo_report
    svg = re.search(r'<section id="endpoint".*?</section>', text, re.S).group(0)
    assert "At 72 h; marks: Dunnett vs. untreated; 2&#x27;3&#x27;-cGAMP vs. Lipofectamine" in (
        svg
    ) or "At 72 h; marks: Dunnett vs. untreated; 2'3'-cGAMP vs. Lipofectamine" in html.unescape(svg)


def test_the_plate_section_shows_the_edge_check_and_the_relative_map(typo_report):
    _, text = typo_report
    body = _section(text, "plate")
    assert "Edge effect: outer against inner wells" in body
    assert "paired t-test across these 12 conditions" in body
    assert "no evidence of an edge effect" in body
    assert "against its condition at 72 h" in body


def test_a_log2_run_reports_log2_as_primary_and_percent_change_beside(tmp_path):
    run(
        exports=EXPORT,
        plate_map=PLATE,
        outdir=tmp_path,
        figures=False,
        report=False,
        scale="log2",
        progress=False,
    )
    text = write_report(tmp_path, figures=False, gallery=False).read_text(encoding="utf-8")
    body = _section(text, "assumptions")
    assert "is on log2 fold change (--scale log2)" in body
    assert "the same comparisons on percent change are in dunnett_pct.csv" in body
    assert "comparisons reach the same conclusion (significant or not at 0.05) on percent" in body
    assert "Recommendation" not in body  # the checks hold on log2
    methods = _section(text, "methods")
    assert "the log2 fold change of the cell count, log2(N(t) / N(t₀)), was analysed" in methods
    assert "repeated on the change in count (%)" in methods


# Warnings shown as a user sees them (not raised as errors, as the test settings do), so
# that a second reading of the folder would print its warning again.
@pytest.mark.filterwarnings("always::UserWarning")
def test_a_stray_file_in_the_frames_folder_is_one_warning_line(tmp_path, capsys):
    """The report shows the frames the run counted; it does not list the folder again (which
    printed the warning a second time, in Python's format with a source path)."""
    frames = tmp_path / "frames"
    (frames / "red").mkdir(parents=True)
    for src in sorted((DATA / "frames" / "red").glob("*_D1_*.tif")):
        shutil.copy(src, frames / "red" / src.name)
    (frames / "red" / "overview.tif").write_bytes(b"not a frame")
    plate = pd.read_csv(PLATE)
    plate = plate[plate["well"].isin(["D1"])]
    plate.to_csv(tmp_path / "plate.csv", index=False)
    out = tmp_path / "out"
    argv = ["run", "--frames", str(frames), "--plate-map", str(tmp_path / "plate.csv")]
    assert main([*argv, "-o", str(out), "--no-figures", "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "overview.tif" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: "), err
    assert not re.search(r"\.py:\d+: \w*Warning", err), err
    recorded = json.loads((out / "run.json").read_text())["warnings"]
    assert sum("overview.tif" in w for w in recorded) == 1
    report = (out / "report.html").read_text()
    assert "overview.tif" in _section(report, "glance")
    assert "frame gallery was skipped" not in report and "D1" in _section(report, "gallery")
