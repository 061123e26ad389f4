"""The command line end to end on a small hand-made plate with known answers."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from incugrowth.cli import main

TIMES = np.arange(0.0, 97.0, 12.0)
# (cell line, treatment, growth rate per h); three wells each, two images per well.
DESIGN = [
    ("M420", "untreated", 0.020),
    ("M420", "IFN gamma", 0.005),
    ("M420", "Lipofectamine", 0.019),
    ("M420", "2'3'-cGAMP", 0.006),
    ("M464", "untreated", 0.018),
    ("M464", "IFN gamma", 0.0175),
    ("M464", "Lipofectamine", 0.018),
    ("M464", "2'3'-cGAMP", 0.004),
]


def _layout():
    wells = []
    for i, (line, treatment, rate) in enumerate(DESIGN):
        row = "BCDEFG"[i // 4 * 3 : i // 4 * 3 + 3]
        for rep, r in enumerate(row):
            wells.append((f"{r}{2 + i % 4}", line, treatment, rate, rep))
    return wells


def _count(rate, rep, image, t):
    # Replicates differ in seeding; images of a well differ by a fixed offset.
    return (180.0 + 15 * rep + 6 * image) * np.exp(rate * t * (1 + 0.03 * (rep - 1)))


def write_plate(tmp_path):
    wells = _layout()
    cols = [f"{w}, Image {k}" for w, *_ in wells for k in (1, 2)]
    lines = [
        "Vessel Name: test plate",
        "Metric: Red Object Count (Per Image)",
        "Cell Type: melanoma",
        "Analysis: nuclei",
        "",
        "Date Time\tElapsed\t" + "\t".join(cols),
    ]
    for i, t in enumerate(TIMES):
        vals = [f"{_count(rate, rep, k, t):.1f}" for _, _, _, rate, rep in wells for k in (1, 2)]
        lines.append(f"25/11/2026 {i % 24:02d}:00:00\t{t:g}\t" + "\t".join(vals))
    export = tmp_path / "export.txt"
    export.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    plate = pd.DataFrame(
        [
            {
                "well": w,
                "cell_line": line,
                "treatment": tr,
                "dose": {"IFN gamma": 100.0, "2'3'-cGAMP": 25.0}.get(tr, np.nan),
                "dose_unit": {"IFN gamma": "ng/ml", "2'3'-cGAMP": "ug/ml"}.get(tr, ""),
                "control": "Lipofectamine" if tr == "2'3'-cGAMP" else "",
            }
            for w, line, tr, _, _ in wells
        ]
    )
    plate_path = tmp_path / "plate_map.csv"
    plate.to_csv(plate_path, index=False)
    return export, plate_path


def expected_pct(rate, rep, t):
    now = (_count(rate, rep, 1, t) + _count(rate, rep, 2, t)) / 2
    start = (_count(rate, rep, 1, 0) + _count(rate, rep, 2, 0)) / 2
    return 100 * (now / start - 1)


@pytest.fixture
def plate_files(tmp_path):
    return write_plate(tmp_path)


def test_run_writes_tables_with_known_values(plate_files, tmp_path, capsys):
    export, plate = plate_files
    out = tmp_path / "out"
    status = main(["run", "--export", str(export), "--plate-map", str(plate), "-o", str(out)])
    assert status == 0, capsys.readouterr().err
    for name in ("counts", "growth", "curves", "endpoint"):
        assert (out / f"{name}.csv").stat().st_size > 0
    curves = pd.read_csv(out / "curves.csv")
    row = curves[
        (curves["cell_line"] == "M420")
        & (curves["treatment"] == "IFN gamma")
        & (curves["elapsed_h"] == 72)
    ].iloc[0]
    want = [expected_pct(0.005, rep, 72.0) for rep in range(3)]
    # The export is written to 0.1 cells, hence the tolerance.
    assert row["mean"] == pytest.approx(np.mean(want), abs=0.05)
    assert row["sd"] == pytest.approx(np.std(want, ddof=1), abs=0.05)
    assert row["n_wells"] == 3
    end = pd.read_csv(out / "endpoint.csv")
    assert set(end["endpoint_h"]) == {72.0} and len(end) == 24
    run = json.loads((out / "run.json").read_text())
    assert run["parameters"]["endpoint_h"] == 72.0
    assert {i["path"] for i in run["inputs"]} == {str(export), str(plate)}
    assert all(len(i["sha256"]) == 64 for i in run["inputs"])
    for line in ("M420", "M464"):
        for ext in ("png", "svg"):
            assert (out / "figures" / f"growth_{line}.{ext}").stat().st_size > 1000
    assert "24 wells" in capsys.readouterr().out


def test_rerun_gives_identical_tables(plate_files, tmp_path):
    export, plate = plate_files
    args = ["run", "--export", str(export), "--plate-map", str(plate), "--no-report"]
    args.append("--no-figures")
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "-o", str(tmp_path / "b")]) == 0
    for name in ("growth", "curves", "endpoint"):
        a = (tmp_path / "a" / f"{name}.csv").read_bytes()
        assert a == (tmp_path / "b" / f"{name}.csv").read_bytes()
    leftovers = [p.name for p in (tmp_path / "a").rglob("*.tmp")]
    assert leftovers == []


def test_config_round_trip(plate_files, tmp_path):
    export, plate = plate_files
    out = tmp_path / "first"
    args = ["run", "--export", str(export), "--plate-map", str(plate), "--endpoint", "48"]
    assert main([*args, "-o", str(out), "--no-report", "--no-figures"]) == 0
    toml = tmp_path / "experiment.toml"
    assert main(["config", str(out), "-o", str(toml)]) == 0
    text = toml.read_text()
    assert "endpoint_h = 48.0" in text
    second = tmp_path / "second"
    assert (
        main(["run", "--config", str(toml), "-o", str(second), "--no-report", "--no-figures"]) == 0
    )
    a = pd.read_csv(out / "endpoint.csv")
    b = pd.read_csv(second / "endpoint.csv")
    pd.testing.assert_frame_equal(a, b)
    assert set(b["endpoint_h"]) == {48.0}


def test_bad_config_key_is_one_line_error(tmp_path, capsys):
    toml = tmp_path / "exp.toml"
    toml.write_text('plate_map = "x.csv"\nendpont_h = 72\n')
    assert main(["run", "--config", str(toml)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "exp.toml" in err and "endpont_h" in err


def test_missing_export_is_exit_2_naming_the_file(plate_files, tmp_path, capsys):
    _, plate = plate_files
    missing = tmp_path / "nope.txt"
    status = main(["run", "--export", str(missing), "--plate-map", str(plate), "-o", "x"])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.txt" in err


def test_export_without_table_header_is_exit_2(plate_files, tmp_path, capsys):
    _, plate = plate_files
    bad = tmp_path / "bad.txt"
    bad.write_text("Vessel Name: x\nsomething else\n1\t2\n")
    status = main(["run", "--export", str(bad), "--plate-map", str(plate), "-o", "x"])
    assert status == 2
    err = capsys.readouterr().err
    assert "bad.txt" in err and "Traceback" not in err


def test_endpoint_that_was_not_imaged_is_exit_2(plate_files, tmp_path, capsys):
    export, plate = plate_files
    args = ["run", "--export", str(export), "--plate-map", str(plate), "-o", str(tmp_path / "o")]
    assert main([*args, "--endpoint", "200"]) == 2
    assert "200" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    assert main(["run", "-o", "x", "--plate-map", "p.csv"]) == 2
    assert "--export" in capsys.readouterr().err


def test_help_shows_a_real_example():
    proc = subprocess.run(
        [sys.executable, "-m", "incugrowth", "run", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert "incugrowth run --export sample_data/export_red_count.txt" in proc.stdout


def test_run_many_goes_on_past_a_bad_plate(plate_files, tmp_path, capsys):
    export, plate = plate_files
    good = tmp_path / "good.toml"
    good.write_text(f'exports = ["{export}"]\nplate_map = "{plate}"\noutdir = "good_out"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text(f'exports = ["missing.txt"]\nplate_map = "{plate}"\noutdir = "bad_out"\n')
    assert main(["run-many", str(bad), str(good)]) == 2
    captured = capsys.readouterr()
    assert "missing.txt" in captured.err
    assert (tmp_path / "good_out" / "curves.csv").exists()


def test_run_many_names_the_failed_plate_and_goes_on_past_an_unwritable_outdir(
    plate_files, tmp_path, capsys
):
    """Each error names the experiment file it belongs to, and a plate whose output folder
    cannot be made (a file stands in its way) is skipped like one with bad input, instead
    of stopping the plates after it."""
    export, plate = plate_files
    (tmp_path / "taken").write_text("a file, not a folder")
    blocked = tmp_path / "blocked.toml"
    blocked.write_text(f'exports = ["{export}"]\nplate_map = "{plate}"\noutdir = "taken/out"\n')
    empty = tmp_path / "empty.toml"
    empty.write_text(f'plate_map = "{plate}"\noutdir = "empty_out"\n')
    good = tmp_path / "good.toml"
    good.write_text(f'exports = ["{export}"]\nplate_map = "{plate}"\noutdir = "good_out"\n')
    assert main(["run-many", str(blocked), str(empty), str(good)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"incugrowth: error: {blocked}: ") and "taken" in err[0]
    assert err[1].startswith(f"incugrowth: error: {empty}: give either exports")
    assert (tmp_path / "good_out" / "curves.csv").exists()


def test_run_many_names_each_bad_plate_and_goes_on_past_unwritable_outputs(
    plate_files, tmp_path, capsys
):
    export, plate = plate_files
    good = tmp_path / "good.toml"
    good.write_text(f'exports = ["{export}"]\nplate_map = "{plate}"\noutdir = "good_out"\n')
    blocked = tmp_path / "blocked.toml"  # its output folder would be inside a file
    blocked.write_text(f'exports = ["{export}"]\nplate_map = "{plate}"\noutdir = "good.toml/o"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text(f'exports = ["missing.txt"]\nplate_map = "{plate}"\noutdir = "bad_out"\n')
    assert main(["run-many", str(blocked), str(bad), str(good)]) == 2
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 2
    assert errors[0].startswith(f"incugrowth: error: {blocked}: ")
    assert "good.toml/o" in errors[0] and "Not a directory" in errors[0]
    assert errors[1].startswith(f"incugrowth: error: {bad}: ") and "missing.txt" in errors[1]
    assert (tmp_path / "good_out" / "curves.csv").exists()
    assert f"{good}: outputs in" in captured.out


def test_watch_follows_a_growing_export(plate_files, tmp_path):
    from incugrowth.pipeline import watch

    export, plate = plate_files
    full = export.read_bytes().decode("utf-8").split("\r\n")
    header_end = next(i for i, line in enumerate(full) if line.startswith("Date Time"))
    # Acquisition so far: 0-48 h. The endpoint (72 h) is not imaged yet.
    export.write_bytes(("\r\n".join(full[: header_end + 6]) + "\r\n").encode())
    rest = "\r\n".join(full[header_end + 6 :])
    calls = []

    def fake_sleep(seconds):
        calls.append(seconds)
        if len(calls) == 1:  # new scans arrive while the watcher waits
            with open(export, "a", encoding="utf-8", newline="") as fh:
                fh.write(rest)

    out = tmp_path / "watched"
    updates = list(
        watch(exports=[export], plate_map=plate, outdir=out, report=False, figures=False,
              interval_s=5, max_updates=2, sleep=fake_sleep)
    )  # fmt: skip
    assert len(updates) == 2
    first, second = updates
    assert first.tables["growth"]["elapsed_h"].max() == 48
    assert "endpoint" not in first.tables
    assert any("endpoint not reached" in m for m in first.messages)
    assert second.tables["growth"]["elapsed_h"].max() == 96
    assert set(second.tables["endpoint"]["endpoint_h"]) == {72.0}
    assert (out / "endpoint.csv").exists()


def test_watch_prints_each_warning_once(plate_files, tmp_path, monkeypatch, capsys):
    """The command prints a warning when it first appears, not again at every update."""
    from types import SimpleNamespace

    import incugrowth.pipeline

    def updates(**kwargs):
        for hours, warned in [
            (24, ["well H12 has no data"]),
            (48, ["well H12 has no data", "B2: count jump at 48 h"]),
        ]:
            growth = pd.DataFrame({"elapsed_h": [0.0, float(hours)]})
            yield SimpleNamespace(outdir=kwargs["outdir"], tables={"growth": growth},
                                  warnings=warned)  # fmt: skip

    monkeypatch.setattr(incugrowth.pipeline, "watch", updates)
    export, plate = plate_files
    args = ["watch", "--export", str(export), "--plate-map", str(plate), "-o", str(tmp_path)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "warning: well H12 has no data", "warning: B2: count jump at 48 h"
    ]  # fmt: skip
    assert "data to 48 h, 2 warning(s)" in captured.out


@pytest.fixture(scope="module")
def doses_run(tmp_path_factory):
    """The simulator's dose-series design, run once for the tests that read its outputs."""
    from incugrowth.simulate import simulate_experiment

    sim = tmp_path_factory.mktemp("doses") / "sim"
    simulate_experiment(sim, design="doses", seed=0, render_frames=False, progress=False)
    out = sim.parent / "out"
    args = ["run", "--export", str(sim / "export_red_count.txt")]
    args += ["--plate-map", str(sim / "plate_map.csv"), "-o", str(out)]
    assert main([*args, "--no-report", "--no-figures"]) == 0
    return sim, out


def test_dose_series_design_gets_dose_response(doses_run):
    _, out = doses_run
    dr = pd.read_csv(out / "dose_response.csv")
    assert set(dr["response"]) == {"gr", "relative_count", "dip_rate"}
    assert (dr["treatment"] == "IFN gamma").all() and (dr["n_doses"] >= 4).all()
    gr = dr[dr["response"] == "gr"].iloc[0]
    assert gr["ec50_ci_low"] < gr["ec50"] < gr["ec50_ci_high"]
    dip = pd.read_csv(out / "dip.csv")
    assert len(dip) == pd.read_csv(out / "growth.csv")["well"].nunique()


def test_each_dose_of_a_series_is_compared_on_its_own(doses_run):
    sim, out = doses_run
    d = pd.read_csv(out / "dunnett.csv")
    plate = pd.read_csv(sim / "plate_map.csv")
    doses = sorted(plate.loc[plate["treatment"] == "IFN gamma", "dose"].unique())
    assert len(d) == len(doses) >= 4
    assert (d["n_treatment"] == 3).all()
    # The effect grows with the dose: the mean difference falls monotonically (within noise).
    by_dose = d.assign(dose=d["treatment"].str.extract(r"([\d.]+) ng/ml")[0].astype(float))
    diffs = by_dose.sort_values("dose")["mean_diff"].to_numpy()
    assert diffs[-1] < diffs[0] - 100


def test_a_table_this_run_cannot_make_does_not_survive_from_an_earlier_run(plate_files, tmp_path):
    export, plate = plate_files
    out = tmp_path / "out"
    args = ["run", "--export", str(export), "--plate-map", str(plate), "-o", str(out)]
    args += ["--no-report", "--no-figures"]
    assert main(args) == 0
    assert (out / "anova.csv").exists()
    pm = pd.read_csv(plate, keep_default_na=False)
    pm.groupby(["cell_line", "treatment"], sort=False).head(1).to_csv(plate, index=False)
    assert main(args) == 0  # one well per condition: no ANOVA can be made now
    assert not (out / "anova.csv").exists()


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def test_run_output_that_is_a_file_is_exit_2(plate_files, capsys):
    export, plate = plate_files
    args = ["run", "--export", str(export), "--plate-map", str(plate)]
    assert main([*args, "-o", str(plate)]) == 2
    err = _one_line_error(capsys)
    assert str(plate) in err and "is a file" in err and "folder" in err
    # a folder below a file cannot be made either
    assert main([*args, "-o", str(plate / "out")]) == 2
    err = _one_line_error(capsys)
    assert f"{plate} is a file" in err


def test_count_output_that_is_a_folder_is_exit_2_before_counting(tmp_path, capsys):
    frames = tmp_path / "frames"  # not there: the output is checked first
    assert main(["count", str(frames), "-o", str(tmp_path)]) == 2
    err = _one_line_error(capsys)
    assert str(tmp_path) in err and "is a folder" in err and "counts.csv" in err
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["count", str(frames), "-o", str(blocker / "counts.csv")]) == 2
    assert f"{blocker} is a file" in _one_line_error(capsys)


def test_config_output_that_is_a_folder_is_exit_2(plate_files, tmp_path, capsys):
    export, plate = plate_files
    out = tmp_path / "out"
    args = ["run", "--export", str(export), "--plate-map", str(plate), "-o", str(out)]
    assert main([*args, "--no-report", "--no-figures"]) == 0
    capsys.readouterr()
    assert main(["config", str(out), "-o", str(tmp_path)]) == 2
    err = _one_line_error(capsys)
    assert str(tmp_path) in err and "is a folder" in err and "experiment.toml" in err


def test_a_refused_write_is_one_line_naming_the_file(plate_files, tmp_path, capsys, monkeypatch):
    import incugrowth.config

    def refused(params, path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(incugrowth.config, "write_config", refused)
    export, plate = plate_files
    out = tmp_path / "out"
    args = ["run", "--export", str(export), "--plate-map", str(plate), "-o", str(out)]
    assert main([*args, "--no-report", "--no-figures"]) == 0
    capsys.readouterr()
    assert main(["config", str(out), "-o", str(tmp_path / "e.toml")]) == 2
    assert _one_line_error(capsys) == f"incugrowth: error: {tmp_path / 'e.toml'}: Permission denied"


@pytest.mark.parametrize("address", ["notanaddress", "tcp://127.0.0.1:notaport"])
def test_malformed_scheduler_address_is_exit_2(tmp_path, capsys, address):
    pytest.importorskip("distributed")
    (tmp_path / "frames").mkdir()
    args = ["count", str(tmp_path / "frames"), "-o", str(tmp_path / "c.csv")]
    assert main([*args, "--scheduler", address]) == 2
    err = _one_line_error(capsys)
    assert f"cannot connect to the Dask scheduler at {address}" in err
    assert "tcp://HOST:PORT" in err


def test_unreachable_scheduler_is_exit_2(tmp_path, capsys):
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as s:  # a local port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    (tmp_path / "frames").mkdir()
    args = ["count", str(tmp_path / "frames"), "-o", str(tmp_path / "c.csv")]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main([*args, "--scheduler", address]) == 2
    err = _one_line_error(capsys)
    assert f"cannot connect to the Dask scheduler at {address}" in err
    assert "dask scheduler" in err


def test_export_takes_several_files_after_one_flag(tmp_path):
    from incugrowth.cli import run

    a, b, c = (tmp_path / f"{n}.txt" for n in "abc")
    args = ["--export", str(a), str(b), "--plate-map", "p.csv", "--export", str(c), "-o", "o"]
    ctx = run.make_context("run", args)
    assert ctx.params["exports"] == (a, b, c)
    assert ctx.params["plate_map"].name == "p.csv" and ctx.params["outdir"].name == "o"
    ctx = run.make_context("run", [f"--export={a}", str(b), "-o", "o"])
    assert ctx.params["exports"] == (a, b)


def test_export_list_is_read_as_exports(plate_files, tmp_path, capsys):
    export, plate = plate_files
    missing = tmp_path / "second.txt"
    args = ["run", "--export", str(export), str(missing), "--plate-map", str(plate)]
    assert main([*args, "-o", str(tmp_path / "out")]) == 2
    err = _one_line_error(capsys)
    assert "second.txt" in err and "not found" in err


def test_scheduler_without_workers_gets_a_warning(capsys):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    from incugrowth.cli import _check_scheduler

    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster:
        _check_scheduler(cluster.scheduler_address)
    err = capsys.readouterr().err
    assert f"the scheduler at {cluster.scheduler_address} has no workers yet" in err


def test_simulate_option_errors_are_one_line_in_the_options_own_terms(tmp_path, capsys):
    """A typing slip in --times is a usage error (it was a traceback), and a crop larger than
    the frame is stated as WIDTH x HEIGHT, the way --size and --crop take them."""
    assert main(["simulate", str(tmp_path / "a"), "--times", "0,2a,48", "--no-frames"]) == 2
    err = capsys.readouterr().err
    assert "--times" in err and "'0,2a,48'" in err and "Traceback" not in err
    args = ["simulate", str(tmp_path / "b"), "--size", "400x300", "--crop", "500x100"]
    assert main([*args, "--wells", "D1", "--times", "0", "--jobs", "1"]) == 2
    assert "crop 500 x 100 is larger than the frame 400 x 300 (width x height)" in (
        capsys.readouterr().err
    )
