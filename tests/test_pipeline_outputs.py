"""A run's output folder holds this run's results only, and its controls are checked."""

import json
from pathlib import Path

import pandas as pd
import pytest

from incugrowth.cli import main
from incugrowth.errors import IncugrowthError
from incugrowth.pipeline import run

DATA = Path(__file__).parents[1] / "sample_data"
EXPORT = DATA / "export_red_count.txt"
PLATE = DATA / "plate_map.csv"


def _run(out, plate=PLATE, **options):
    options = {"figures": False, "report": False, "progress": False, **options}
    return run(exports=[EXPORT], plate_map=plate, outdir=out, **options)


def test_a_run_stopped_by_a_missing_input_makes_no_output_folder(tmp_path):
    with pytest.raises(IncugrowthError, match="missing.txt"):
        run(exports=[tmp_path / "missing.txt"], plate_map=PLATE, outdir=tmp_path / "out",
            progress=False)  # fmt: skip
    with pytest.raises(IncugrowthError, match="no_plate.csv"):
        _run(tmp_path / "out", plate=tmp_path / "no_plate.csv")
    assert not (tmp_path / "out").exists()


def test_a_misspelt_control_is_an_error_naming_the_plate_map(tmp_path):
    with pytest.raises(IncugrowthError, match=r"control 'Untreated' is not a treatment in plate"):
        _run(tmp_path / "out", control="Untreated")
    with pytest.raises(IncugrowthError, match=r"treatment 'cGAMP' is not a treatment"):
        _run(tmp_path / "out", controls={"cGAMP": "Lipofectamine"})
    with pytest.raises(IncugrowthError, match=r"control 'Lipo' is not a treatment"):
        _run(tmp_path / "out", controls={"2'3'-cGAMP": "Lipo"})
    plate = pd.read_csv(PLATE)
    plate["control"] = plate["control"].replace("Lipofectamine", "lipofectamine")
    plate.to_csv(tmp_path / "map.csv", index=False)
    with pytest.raises(IncugrowthError, match=r"map\.csv: control column.*'lipofectamine'"):
        _run(tmp_path / "out", plate=tmp_path / "map.csv")
    assert not (tmp_path / "out" / "dunnett.csv").exists()  # nothing written
    status = main(
        ["run", "--export", str(EXPORT), "--plate-map", str(PLATE), "-o", str(tmp_path / "cli")]
        + ["--control", "Untreated", "--no-report", "--no-figures"]
    )
    assert status == 2


def test_a_rerun_leaves_no_output_of_the_earlier_run(tmp_path):
    out = tmp_path / "out"
    _run(out, figures=True, report=True)
    first = json.loads((out / "run.json").read_text())
    for name in ("report.html", "figures/growth_M464.png", "prism/prism_growth_M464.csv"):
        assert (out / name).is_file()
    # every file of the folder is listed as an output of the run, the report's figures too
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    on_disk = {p for p in on_disk if not p.startswith(".cache")}
    assert set(first["outputs"]) == on_disk
    assert {"report.html", "run.json", "figures/plate_counts.svg"} <= on_disk
    assert first["finished"] is not None

    # an interrupted write left a temporary file; the rerun keeps M420 only, without report
    (out / "figures" / ".growth_M464.pdf.abc123.tmp").write_bytes(b"half")
    plate = pd.read_csv(PLATE)
    plate[plate["cell_line"] == "M420"].to_csv(tmp_path / "m420.csv", index=False)
    _run(out, plate=tmp_path / "m420.csv", figures=True, report=False, endpoint_h=48)
    second = json.loads((out / "run.json").read_text())
    left = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    left = {p for p in left if not p.startswith(".cache")}
    assert set(second["outputs"]) == left
    assert "report.html" not in left
    assert not [p for p in left if "M464" in p or p.endswith(".tmp")]
    assert "figures/growth_M420.png" in left and "prism/prism_growth_M420.csv" in left
    assert set(pd.read_csv(out / "endpoint.csv")["endpoint_h"]) == {48.0}


def test_a_run_stopped_while_writing_leaves_the_earlier_outputs_as_they_were(tmp_path, monkeypatch):
    """A rerun stopped while it writes its report (the slowest output): the folder still
    holds the earlier, finished run's tables, report and run.json, byte for byte, and no
    staging folder; run.json says finished only once everything is in place."""
    import incugrowth.report

    out = tmp_path / "out"
    _run(out, report=True)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and ".cache" not in str(p)}
    assert json.loads((out / "run.json").read_text())["finished"] is not None

    seen = {}

    def interrupted(outdir, **kwargs):
        seen["run.json"] = json.loads((Path(outdir) / "run.json").read_text())
        raise KeyboardInterrupt

    monkeypatch.setattr(incugrowth.report, "write_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(out, report=True, endpoint_h=48)
    # the report was being built from the new run's tables and unfinished run.json ...
    assert seen["run.json"]["finished"] is None
    assert seen["run.json"]["parameters"]["endpoint_h"] == 48
    # ... and none of it reached the folder
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and ".cache" not in str(p)}
    assert after == before
    assert not list(out.glob(".incugrowth-new*"))


def test_runs_into_one_folder_stage_apart_and_stale_staging_goes(tmp_path):
    """Each run writes into a staging folder of its own (a run beside `watch` does not
    take the other's away); one that a killed run left long ago is removed."""
    import os
    import time

    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".incugrowth-new-killed"
    (stale / "figures").mkdir(parents=True)
    long_ago = time.time() - 2 * 3600
    os.utime(stale, (long_ago, long_ago))
    recent = out / ".incugrowth-new-running"  # another run writing right now
    recent.mkdir()
    (recent / "growth.csv").write_text("being written")
    _run(out)
    assert not stale.exists()
    assert (recent / "growth.csv").read_text() == "being written"
    assert (out / "growth.csv").is_file() and "being written" not in (
        out / "growth.csv"
    ).read_text()


def test_a_warning_of_two_steps_is_reported_once(tmp_path):
    lines = EXPORT.read_text(encoding="utf-8").splitlines()
    first_data = next(i for i, line in enumerate(lines) if line.startswith("Date Time")) + 1
    cells = lines[first_data].split("\t")
    cells[2] = "0"  # A1 at the first time point: no log for the DIP fit
    lines[first_data] = "\t".join(cells)
    export = tmp_path / "export.txt"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(
        exports=[export], plate_map=PLATE, outdir=tmp_path / "out", figures=False, report=False
    )
    dip = [w for w in result.warnings if "left out of the DIP fit" in w]
    assert len(dip) == 1 and "A1" in dip[0]
    assert len(result.warnings) == len(set(result.warnings))


def test_saved_growth_figures_put_the_chosen_control_first_in_the_legend(tmp_path):
    """figures/growth_*.svg are drawn as the report draws them: with --control Lipofectamine
    the legend starts with Lipofectamine, not with untreated."""
    import xml.etree.ElementTree as ET

    _run(tmp_path / "out", control="Lipofectamine", figures=True)
    svg = ET.parse(tmp_path / "out" / "figures" / "growth_M420.svg").getroot()
    texts = ["".join(t.itertext()).strip() for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    treatments = [t for t in texts if t in ("untreated", "Lipofectamine", "IFN alfa")]
    assert treatments[:2] == ["Lipofectamine", "untreated"], treatments


@pytest.fixture(scope="module")
def phase_only(tmp_path_factory):
    """A small simulated image export of phase-contrast frames only (a lab without a nuclear
    label): M420 untreated and IFN gamma, three wells each, four scans."""
    from incugrowth.simulate import simulate_experiment

    root = tmp_path_factory.mktemp("phase_only")
    wells = ["A1", "A2", "A3", "A10", "A11", "A12"]
    simulate_experiment(
        root / "sim", frame_shape=(160, 200), times=[0, 24, 48, 72], wells=wells, jobs=1,
        progress=False,
    )  # fmt: skip
    for frame in (root / "sim" / "frames" / "red").iterdir():
        frame.unlink()
    (root / "sim" / "frames" / "red").rmdir()
    plate = pd.read_csv(root / "sim" / "plate_map.csv")
    plate[plate["well"].isin(wells)].to_csv(root / "plate.csv", index=False)
    return root


def test_phase_contrast_frames_only_are_measured_by_confluence(phase_only, tmp_path):
    """Nuclei cannot be counted in phase contrast: the growth measure is the phase confluence,
    the run says so, and the report and figures speak of confluence, not cell counts."""
    from incugrowth.frames import read_frame
    from incugrowth.image import phase_confluence
    from incugrowth.image.confluence import dish_contrast, reference_dish_contrast

    result = run(
        frames=phase_only / "sim" / "frames", plate_map=phase_only / "plate.csv",
        outdir=tmp_path / "out", progress=False, jobs=1,
    )  # fmt: skip
    assert any("are phase contrast: the growth measure is the phase" in w for w in result.warnings)
    assert result.parameters["measure"] == "confluence"
    counts = pd.read_csv(tmp_path / "out" / "counts.csv")
    assert len(counts) == 6 * 4 and counts["count"].equals(counts["confluence"])
    first = sorted((phase_only / "sim" / "frames" / "phase").glob("*_A1_1_00d00h00m.tif"))[0]
    row = counts[(counts["well"] == "A1") & (counts["elapsed_h"] == 0)].iloc[0]
    # at the dish level of well A1: the lower quartile of its frames' own levels
    a1 = sorted((phase_only / "sim" / "frames" / "phase").glob("*_A1_*.tif"))
    assert len(a1) == 4
    level = reference_dish_contrast([dish_contrast(read_frame(p)) for p in a1])
    assert row["count"] == pytest.approx(phase_confluence(read_frame(first), dish=level))
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "change in confluence (%)" in report and "Frames and measured confluence" in report
    assert "phase confluence of each frame" in report
    for counting in ("change in cell count", "Change in cell count", "log2(count", "ln(count",
                     "Cell count at", "mean count", "Nucleus diameter"):  # fmt: skip
        assert counting not in report, counting
    svg = (tmp_path / "out" / "figures" / "growth_M420.svg").read_text(encoding="utf-8")
    assert "Change in confluence (%)" in svg and "Change in cell count" not in svg
    run_json = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run_json["parameters"]["measure"] == "confluence"


def test_the_measure_of_an_export_follows_its_metric():
    from incugrowth.pipeline import _measure_of

    conf = pd.DataFrame({"count": [10.0], "metric": ["Phase Object Confluence (Percent)"]})
    assert _measure_of(conf) == "confluence"
    count = pd.DataFrame({"count": [10.0], "metric": ["Red Object Count (Per Image)"]})
    assert _measure_of(count) == "count"
    frames = pd.DataFrame({"count": [10.0]})
    frames.attrs["measure"] = "confluence"
    assert _measure_of(frames) == "confluence"


def test_a_rate_window_given_end_first_stops_the_run(tmp_path, capsys):
    """``--rate-window 72 24`` used to give a growth-rate table without a single rate and a
    report calling every condition 'no growth'; it is a usage error now, found before any
    counting, and a window after the last image is a warning naming the wells without a rate."""
    args = ["run", "--export", str(EXPORT), "--plate-map", str(PLATE), "--no-report"]
    args += ["--no-figures"]
    assert main([*args, "-o", str(tmp_path / "a"), "--rate-window", "72", "24"]) == 2
    err = capsys.readouterr().err
    assert "growth-rate window 72 24 h: the start must be before the end; give 24 72" in err
    assert not (tmp_path / "a" / "counts.csv").exists()
    # a window of one time says what to give, not to swap its equal ends
    assert main([*args, "-o", str(tmp_path / "a"), "--rate-window", "24", "24"]) == 2
    err = capsys.readouterr().err
    assert "window 24 24 h: the start must be before the end" in err
    assert "give an end after 24 h" in err and "give 24 24" not in err
    assert main([*args, "-o", str(tmp_path / "b"), "--rate-window", "100", "120"]) == 0
    warnings = json.loads((tmp_path / "b" / "run.json").read_text())["warnings"]
    assert any(w.startswith("no growth rate for 90 of 90 well(s)") for w in warnings)


def test_one_export_may_be_given_without_a_list(tmp_path):
    """``exports="export.txt"`` (or a Path) is that one export, not a list of one-letter
    file names."""
    listed = _run(tmp_path / "listed")
    for one in (str(EXPORT), EXPORT):
        res = run(exports=one, plate_map=PLATE, outdir=tmp_path / "one", figures=False,
                  report=False)  # fmt: skip
        assert res.parameters["exports"] == [str(EXPORT.absolute())]
        pd.testing.assert_frame_equal(res["dunnett"], listed["dunnett"])


def test_options_the_input_does_not_use_are_named_as_ignored(tmp_path):
    """--channel and --diameter with a metric export changed nothing without a word; they
    are named as ignored now, and the results are those of a run without them."""
    plain = _run(tmp_path / "plain")
    res = _run(tmp_path / "opts", channel="green", diameter=12.0)
    # the sample's own warning (its assumption checks) comes in both
    assert [w for w in res.warnings if w not in plain.warnings] == [
        "--channel, --diameter ignored: they set how frames are counted, and a metric export "
        "holds counts already"
    ]
    pd.testing.assert_frame_equal(res["dunnett"], plain["dunnett"])
    assert not any("ignored" in w for w in plain.warnings)


def test_a_metric_given_with_frames_is_named_as_ignored():
    from incugrowth.pipeline import _warn_unused_options

    with pytest.warns(UserWarning, match=r"^--metric ignored: it chooses among the metrics"):
        _warn_unused_options(None, channel="red", diameter=None, metric="Red Object Count")


def test_an_endpoint_at_the_baseline_is_an_error_not_a_row_of_internal_warnings(tmp_path, capsys):
    """--endpoint 0 on a plate whose baseline is 0 h compared percent changes that are all 0
    and ended with warnings of the fitting library; it is a one-line input error now."""
    with pytest.raises(IncugrowthError, match=r"the endpoint \(0 h\) is the baseline scan"):
        _run(tmp_path / "a", endpoint_h=0.0)
    with pytest.raises(IncugrowthError, match=r"the endpoint \(24 h\) is the baseline scan"):
        _run(tmp_path / "b", endpoint_h=24.0, baseline_h=24.0)
    res = _run(tmp_path / "c", endpoint_h=0.0, partial=True)  # an acquisition just begun
    assert "endpoint" not in res.tables and res.messages[0].startswith("endpoint not reached")
    args = ["run", "--export", str(EXPORT), "--plate-map", str(PLATE), "-o", str(tmp_path / "d")]
    assert main([*args, "--endpoint", "0", "--no-report", "--no-figures"]) == 2
    assert "choose a later endpoint" in capsys.readouterr().err


def _replicates(tmp_path, n: int) -> Path:
    """The sample plate map cut to the first ``n`` wells of each condition."""
    plate = pd.read_csv(PLATE)
    path = tmp_path / f"map_{n}.csv"
    plate.groupby(["cell_line", "treatment"], sort=False).head(n).to_csv(path, index=False)
    return path


def _report_text(outdir: Path) -> str:
    import html
    import re

    text = (outdir / "report.html").read_text(encoding="utf-8")
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", text).split()))


def test_texts_of_a_plate_without_replicates_promise_no_error_bars(tmp_path):
    """One well per condition: the caption, the legend and the methods do not speak of
    'n = 1 wells' with error bars of one SD between wells, which do not exist."""
    from incugrowth import plots

    plate = _replicates(tmp_path, 1)
    res = run(exports=EXPORT, plate_map=plate, outdir=tmp_path / "n1", figures=False)
    text = _report_text(tmp_path / "n1")
    assert (
        "the change in cell count (%) of its one well over time (one well per condition, " in text
    )
    assert "Curves show the one well of each condition (no replicate wells)." in text
    assert "n = 1 wells" not in text and "SD between wells" not in text
    assert "these tests have little power" not in text
    fig = plots.growth_curve_figure(res["curves"])
    assert fig.legends[0].get_title().get_text() == "One well per condition"


def test_assumption_note_gives_the_plate_s_number_of_wells(tmp_path):
    plate = _replicates(tmp_path, 2)
    run(exports=EXPORT, plate_map=plate, outdir=tmp_path / "n2", figures=False)
    text = _report_text(tmp_path / "n2")
    assert "With 2 wells per group these tests have little power" in text
    assert "three wells" not in text
