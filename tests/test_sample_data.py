"""README's main job on the bundled sample data reproduces the study's Figure 4 pattern."""

import json
from pathlib import Path

import pandas as pd
import pytest

from incugrowth.cli import main

DATA = Path(__file__).parents[1] / "sample_data"
IFNS = ("IFN alfa", "IFN beta", "IFN gamma")
# Zaretsky et al. 2016, Fig. 4: which treatments inhibit growth at 72 h in each line.
INHIBITED = {
    "M420": {*IFNS, "2'3'-cGAMP"},
    "M464": {"IFN alfa", "IFN beta", "2'3'-cGAMP"},
    "M407": {*IFNS, "2'3'-cGAMP"},
    "M407 JAK1-KO": set(),
    "M407 JAK2-KO": {"IFN alfa", "IFN beta", "2'3'-cGAMP"},
}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "results"
    status = main(
        [
            "run",
            "--export",
            str(DATA / "export_red_count.txt"),
            "--plate-map",
            str(DATA / "plate_map.csv"),
            "-o",
            str(out),
            "--no-report",
        ]
    )
    assert status == 0
    return out


def test_curves_show_the_study_pattern(sample_run):
    curves = pd.read_csv(sample_run / "curves.csv")
    at72 = curves[curves["elapsed_h"] == 72].set_index(["cell_line", "treatment"])["mean"]
    assert 300 <= at72[("M407", "untreated")] <= 500
    for line, inhibited in INHIBITED.items():
        control = at72[(line, "untreated")]
        for treatment in inhibited:
            assert at72[(line, treatment)] < 0.5 * control, (line, treatment)
            assert 0 <= at72[(line, treatment)] <= 150
        for treatment in set(IFNS) - inhibited:
            assert at72[(line, treatment)] > 0.8 * control, (line, treatment)


def test_dunnett_stars_follow_the_study(sample_run):
    d = pd.read_csv(sample_run / "dunnett.csv", keep_default_na=False)
    assert set(d["cell_line"]) == set(INHIBITED)
    cgamp = d[d["treatment"] == "2'3'-cGAMP"]
    assert set(cgamp["control"]) == {"Lipofectamine"}, "cGAMP is compared with its vehicle"
    for row in d.itertuples():
        significant = row.stars != "NS"
        assert significant == (row.treatment in INHIBITED[row.cell_line]), row
        if significant:
            assert row.p_adj < 0.05 and row.ci_high < 0


def test_xml_plate_map_gives_the_same_growth(sample_run, tmp_path):
    out = tmp_path / "xml"
    args = ["run", "--export", str(DATA / "export_red_count.txt")]
    args += ["--plate-map", str(DATA / "plate_map.PlateMap"), "-o", str(out)]
    assert main([*args, "--no-report", "--no-figures"]) == 0
    cols = ["well", "elapsed_h", "count", "pct_change", "cell_line", "treatment"]
    a = pd.read_csv(sample_run / "growth.csv")[cols]
    b = pd.read_csv(out / "growth.csv")[cols]
    pd.testing.assert_frame_equal(a, b)


def test_frames_of_the_sample_count_close_to_truth(tmp_path):
    out = tmp_path / "frames"
    args = ["run", "--frames", str(DATA / "frames"), "--plate-map", str(DATA / "plate_map.csv")]
    args += ["-o", str(out), "--jobs", "2", "--endpoint", "72", "--no-report", "--no-figures"]
    assert main(args) == 0
    counts = pd.read_csv(out / "counts.csv")
    truth = pd.read_csv(DATA / "truth_counts.csv").dropna(subset=["count_in_frame"])
    merged = counts.merge(truth, on=["well", "field", "elapsed_h"], suffixes=("", "_true"))
    assert len(merged) == 45
    in_focus = merged[~merged["out_of_focus"].astype(bool)]
    error = (in_focus["count"] / in_focus["count_in_frame"] - 1).abs()
    assert error.median() <= 0.05
    assert abs(in_focus["count"].sum() / in_focus["count_in_frame"].sum() - 1) <= 0.05
    assert "confluence" in counts.columns and counts["confluence"].between(0, 100).all()
    # one nucleus size per well, written per well and in run.json
    assert (counts.groupby("well")["diameter_px"].nunique() == 1).all()
    sizes = pd.read_csv(out / "sizes.csv")
    assert sorted(sizes["well"]) == sorted(counts["well"].unique())
    assert (sizes["source"] == "well").all() and not sizes["uncertain"].any()
    run_sizes = json.loads((out / "run.json").read_text())["parameters"]["nucleus_size_px"]
    by_well = sizes.set_index("well")["diameter_px"]
    assert {w: v["diameter_px"] for w, v in run_sizes["wells"].items()} == by_well.to_dict()
    # the counter's libraries are recorded with the others
    import cv2
    import numba
    import skimage

    environment = json.loads((out / "run.json").read_text())["environment"]
    assert environment["scikit-image"] == skimage.__version__
    assert environment["opencv"].startswith(cv2.__version__)
    assert environment["numba"] == numba.__version__


def test_time_course_layout_reports_every_time_and_the_endpoint_row(tmp_path):
    out = tmp_path / "tc"
    args = ["run", "--export", str(DATA / "export_red_count.txt")]
    args += ["--plate-map", str(DATA / "plate_map.csv"), "-o", str(out), "--time-course"]
    assert main([*args, "--no-report", "--no-figures"]) == 0
    by_time = pd.read_csv(out / "dunnett_by_time.csv")
    endpoint = pd.read_csv(out / "dunnett.csv")
    assert sorted(by_time["elapsed_h"].unique()) == [12, 24, 36, 48, 60, 72, 84, 96]
    at72 = by_time[by_time["elapsed_h"] == 72].set_index(["cell_line", "treatment"])
    ref = endpoint.set_index(["cell_line", "treatment"])
    # Same groups and differences at the endpoint; only the error term differs between layouts.
    pd.testing.assert_series_equal(
        at72["mean_diff"].sort_index(), ref["mean_diff"].sort_index(), check_exact=False
    )
    rm = pd.read_csv(out / "rm_anova.csv")
    assert set(rm["cell_line"]) == set(INHIBITED)
    assert {"treatment", "elapsed_h", "treatment:elapsed_h"} <= set(rm["source"])
    assert rm["eps_gg"].dropna().between(0, 1).all()
