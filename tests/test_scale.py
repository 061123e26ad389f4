"""The scale of the endpoint test (--scale pct|log2), and analysis downgrades as warnings."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from incugrowth.cli import main
from incugrowth.errors import IncugrowthError
from incugrowth.pipeline import run

DATA = Path(__file__).parents[1] / "sample_data"
EXPORT = DATA / "export_red_count.txt"
PLATE = DATA / "plate_map.csv"


def _cli(out, capsys, *extra, plate=PLATE):
    argv = ["run", "--export", str(EXPORT), "--plate-map", str(plate), "-o", str(out)]
    status = main([*argv, "--no-figures", "--no-report", *extra])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured


def _mean_diffs(end: pd.DataFrame, value: str, line: str, treatment: str) -> float:
    sub = end[end["cell_line"] == line]
    means = sub.groupby("treatment")[value].mean()
    return means[treatment] - means["untreated"]


def test_scale_log2_tests_log2_fold_change_and_keeps_percent_change_beside(tmp_path, capsys):
    _cli(tmp_path / "pct", capsys)
    _cli(tmp_path / "log2", capsys, "--scale", "log2")
    end = pd.read_csv(tmp_path / "log2" / "endpoint.csv")
    end["log2_fc"] = np.log2(end["count"] / end["baseline_count"])
    dunnett = pd.read_csv(tmp_path / "log2" / "dunnett.csv")
    row = dunnett[(dunnett["cell_line"] == "M420") & (dunnett["treatment"] == "IFN gamma")]
    assert row["mean_diff"].iloc[0] == pytest.approx(
        _mean_diffs(end, "log2_fc", "M420", "IFN gamma"), rel=1e-9
    )
    # the other scale beside it: exactly the percent-change analysis of a default run
    beside = pd.read_csv(tmp_path / "log2" / "dunnett_pct.csv")
    pd.testing.assert_frame_equal(beside, pd.read_csv(tmp_path / "pct" / "dunnett.csv"))
    assert not (tmp_path / "log2" / "dunnett_log2.csv").exists()
    pct = pd.read_csv(tmp_path / "pct" / "dunnett.csv")
    row = pct[(pct["cell_line"] == "M420") & (pct["treatment"] == "IFN gamma")]
    assert row["mean_diff"].iloc[0] == pytest.approx(
        _mean_diffs(end, "pct_change", "M420", "IFN gamma"), rel=1e-9
    )
    log2_beside = pd.read_csv(tmp_path / "pct" / "dunnett_log2.csv")
    pd.testing.assert_frame_equal(log2_beside, dunnett)
    assert json.loads((tmp_path / "log2" / "run.json").read_text())["parameters"]["scale"] == "log2"
    checks = pd.read_csv(tmp_path / "log2" / "assumptions.csv")
    assert checks["scale"].tolist() == ["log2"] * 3 + ["pct"] * 3


def test_a_rerun_on_the_other_scale_leaves_no_file_of_the_first(tmp_path, capsys):
    _cli(tmp_path, capsys)
    _cli(tmp_path, capsys, "--scale", "log2")
    assert not (tmp_path / "dunnett_log2.csv").exists()
    assert (tmp_path / "dunnett_pct.csv").exists()


def test_the_scale_is_read_from_the_experiment_file(tmp_path, capsys):
    exp = tmp_path / "exp.toml"
    exp.write_text(f'exports = ["{EXPORT}"]\nplate_map = "{PLATE}"\nscale = "log2"\n')
    main(["run", "--config", str(exp), "-o", str(tmp_path / "out"), "--no-figures", "--no-report"])
    doc = json.loads((tmp_path / "out" / "run.json").read_text())
    assert doc["parameters"]["scale"] == "log2"
    with pytest.raises(IncugrowthError, match="scale must be one of 'pct', 'log2'"):
        run(exports=EXPORT, plate_map=PLATE, outdir=tmp_path / "x", scale="log")


def test_failed_assumption_checks_are_a_warning_that_recommends_log2(tmp_path, capsys):
    """On the sample plate the residuals of percent change are not normal (Shapiro-Wilk
    P = 2.1e-05) while those of log2 fold change are (P = 0.11); Brown-Forsythe passes on
    both (P = 0.31 and 0.86)."""
    captured = _cli(tmp_path, capsys)
    lines = [line for line in captured.err.splitlines() if "assumption" in line]
    assert lines == [
        "warning: the ANOVA assumption checks fail on percent change (Shapiro-Wilk P = 2.1e-05) "
        "and hold on log2 fold change: consider --scale log2 (its comparisons are in "
        "dunnett_log2.csv)"
    ]
    assert "; 1 warning(s)" in captured.out
    assert json.loads((tmp_path / "run.json").read_text())["warnings"] == [lines[0][9:]]
    # on log2 the checks hold: no warning
    captured = _cli(tmp_path / "log2", capsys, "--scale", "log2")
    assert "warning" not in captured.err and "; 0 warning(s)" in captured.out


def test_an_anova_not_computed_is_a_warning_not_a_note(tmp_path, capsys):
    plate = pd.read_csv(PLATE)
    plate.loc[plate["well"] == "A1", "treatment"] = "Untreated"
    path = tmp_path / "plate_map.csv"
    plate.to_csv(path, index=False)
    captured = _cli(tmp_path / "out", capsys, plate=path)
    assert "note:" not in captured.err
    anova = [line for line in captured.err.splitlines() if "ANOVA not computed" in line]
    assert len(anova) == 1 and anova[0].startswith("warning: statistics: ANOVA not computed")
    doc = json.loads((tmp_path / "out" / "run.json").read_text())
    assert any("ANOVA not computed" in w for w in doc["warnings"])
    assert not any("ANOVA not computed" in m for m in doc["messages"])
    n = len(doc["warnings"])
    assert f"; {n} warning(s)" in captured.out and n == 3  # typo, ANOVA, assumptions
