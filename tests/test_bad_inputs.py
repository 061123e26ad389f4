"""Broken inputs through the whole run: a clear one-line error, or a QC flag and the run goes on.

Inputs tried: zero-byte, truncated and JPEG-named-.tif frames, colour (RGB) frames, a frame of
another bit depth and of another size, duplicate frames for one well/field/time, missing time
points, an export with a ragged row, with `NaN` text, or empty, a plate map with an unknown or a
duplicate well, a control treatment without wells, and a plate whose conditions have a single
well each (no residual variance for the statistics).
"""

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from test_batch import frame_with_nuclei
from test_cli import write_plate

from incugrowth.cli import main

WELLS = {"B2": "untreated", "B3": "untreated", "B4": "IFN gamma", "B5": "IFN gamma"}
TIMES = (0, 24, 48, 72)


def _frames_plate(tmp_path):
    red = tmp_path / "frames" / "red"
    red.mkdir(parents=True)
    for i, well in enumerate(WELLS):
        for t in TIMES:
            n = 4 + t // 24 * (2 if WELLS[well] == "untreated" else 0) + i % 2
            img = frame_with_nuclei(n, seed=i * 100 + t)
            tifffile.imwrite(red / f"P1_{well}_1_{t // 24:02d}d00h00m.tif", img)
    plate = tmp_path / "plate.csv"
    pd.DataFrame(
        {"well": list(WELLS), "cell_line": "M407", "treatment": list(WELLS.values())}
    ).to_csv(plate, index=False)
    return red, plate


def _run(tmp_path, *extra):
    out = tmp_path / "out"
    args = ["run", "--plate-map", str(tmp_path / "plate.csv"), "-o", str(out), "--jobs", "1"]
    return main([*args, "--no-report", "--no-figures", *extra]), out


def test_broken_frames_are_flagged_and_the_run_goes_on(tmp_path, capsys):
    red, _ = _frames_plate(tmp_path)
    good = frame_with_nuclei(5, seed=1)
    (red / "P1_B2_1_01d00h00m.tif").write_bytes(b"")  # zero bytes
    data = (red / "P1_B3_1_01d00h00m.tif").read_bytes()
    (red / "P1_B3_1_01d00h00m.tif").write_bytes(data[: len(data) // 3])  # truncated
    (red / "P1_B4_1_01d00h00m.tif").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(99))
    rgb = np.stack([good, good[::-1], good[:, ::-1]], axis=-1)  # colour overlay
    tifffile.imwrite(red / "P1_B5_1_01d00h00m.tif", rgb, photometric="rgb")
    tifffile.imwrite(red / "P1_B2_1_02d00h00m.tif", (good // 256).astype(np.uint8))  # 8-bit
    tifffile.imwrite(red / "P1_B3_1_02d00h00m.tif", frame_with_nuclei(6, shape=(150, 180)))
    tifffile.imwrite(red / "P2_B4_1_02d00h00m.tif", good)  # a second file for B4 at 48 h
    (red / "P1_B5_1_03d00h00m.tif").unlink()  # a missing time point
    status, out = _run(tmp_path, "--frames", str(tmp_path / "frames"), "--endpoint", "72")
    captured = capsys.readouterr()
    assert status == 0, captured.err
    counts = pd.read_csv(out / "counts.csv", keep_default_na=False)
    flags = counts.set_index(["well", "elapsed_h"])["qc_flag"]
    for well in ("B2", "B3", "B4", "B5"):
        assert "unreadable" in flags[(well, 24.0)], well
    assert "odd_size" in flags[("B3", 48.0)]
    assert flags[("B2", 48.0)] == "" or "unreadable" not in flags[("B2", 48.0)]
    assert ("B5", 72.0) not in flags.index
    assert len(counts[(counts["well"] == "B4") & (counts["elapsed_h"] == 48.0)]) == 1
    warnings = json.loads((out / "run.json").read_text())["warnings"]
    text = " ".join(warnings)
    assert "could not be read" in text and "duplicate" in text.lower()
    assert "warning:" in captured.err
    end = pd.read_csv(out / "endpoint.csv")
    assert set(end["well"]) == {"B2", "B3", "B4"}  # B5 lost its 72 h frame


def test_ragged_export_row_is_one_line_error(tmp_path, capsys):
    export, plate = write_plate(tmp_path)
    lines = export.read_bytes().decode().split("\r\n")
    header = next(i for i, line in enumerate(lines) if line.startswith("Date Time"))
    lines[header + 3] = "\t".join(lines[header + 3].split("\t")[:5])
    export.write_bytes("\r\n".join(lines).encode())
    assert main(["run", "--export", str(export), "--plate-map", str(plate), "-o", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"export.txt:{header + 4}" in err


def test_nan_text_in_export_is_missing_with_warning(tmp_path, capsys):
    export, plate = write_plate(tmp_path)
    lines = export.read_bytes().decode().split("\r\n")
    header = next(i for i, line in enumerate(lines) if line.startswith("Date Time"))
    cells = lines[header + 2].split("\t")
    cells[2] = "NaN"
    lines[header + 2] = "\t".join(cells)
    export.write_bytes("\r\n".join(lines).encode())
    out = tmp_path / "out"
    args = ["run", "--export", str(export), "--plate-map", str(plate), "-o", str(out)]
    assert main([*args, "--no-report", "--no-figures"]) == 0
    counts = pd.read_csv(out / "counts.csv")
    first_col_well = cells[0]  # date; the well is in the header
    assert counts["count"].isna().sum() == 1, first_col_well
    assert "warning" in capsys.readouterr().err


def test_empty_export_is_one_line_error(tmp_path, capsys):
    _, plate = write_plate(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert main(["run", "--export", str(empty), "--plate-map", str(plate), "-o", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "empty.txt" in err


@pytest.mark.parametrize(
    ("row", "expect"),
    [("Q1,M420,untreated,,,", "Q1"), ("B2,M420,untreated,,,", "B2")],
    ids=["unknown-well", "duplicate-well"],
)
def test_bad_plate_map_wells_are_one_line_errors(tmp_path, capsys, row, expect):
    export, plate = write_plate(tmp_path)
    with open(plate, "a") as fh:
        fh.write(row + "\n")
    n_lines = plate.read_text().count("\n")
    assert main(["run", "--export", str(export), "--plate-map", str(plate), "-o", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "plate_map.csv" in err and expect in err and str(n_lines) in err


def test_a_control_that_is_not_on_the_plate_is_an_error(tmp_path, capsys):
    export, plate = write_plate(tmp_path)
    out = tmp_path / "out"
    args = ["run", "--export", str(export), "--plate-map", str(plate), "-o", str(out)]
    assert main([*args, "--control", "DMSO", "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "control 'DMSO' is not a treatment in plate_map.csv" in err and "'untreated'" in err
    assert not (out / "dunnett.csv").exists()


def test_a_cell_line_without_control_wells_reports_and_keeps_the_tables(tmp_path, capsys):
    export, plate = write_plate(tmp_path)
    pm = pd.read_csv(plate, keep_default_na=False)
    no_control = (pm["cell_line"] == "M464") & (pm["treatment"] == "untreated")
    pm[~no_control].to_csv(plate, index=False)
    out = tmp_path / "out"
    args = ["run", "--export", str(export), "--plate-map", str(plate), "-o", str(out)]
    assert main([*args, "--no-figures"]) == 0
    assert "M464" in capsys.readouterr().err
    assert (out / "curves.csv").exists() and (out / "endpoint.csv").exists()
    assert (out / "report.html").exists()
    # M420 keeps every comparison; M464 only cGAMP vs its vehicle, which has wells
    dunnett = pd.read_csv(out / "dunnett.csv")
    assert set(dunnett.loc[dunnett["cell_line"] == "M420", "control"]) == {
        "untreated",
        "Lipofectamine",
    }
    assert set(dunnett.loc[dunnett["cell_line"] == "M464", "control"]) == {"Lipofectamine"}
    run = json.loads((out / "run.json").read_text())
    assert any("M464" in m and "untreated" in m for m in run["warnings"])


def test_single_well_conditions_give_a_message_not_a_crash(tmp_path, capsys):
    export, plate = write_plate(tmp_path)
    pm = pd.read_csv(plate, keep_default_na=False)
    first = pm.groupby(["cell_line", "treatment"], sort=False).head(1)
    first.to_csv(plate, index=False)
    out = tmp_path / "out"
    args = ["run", "--export", str(export), "--plate-map", str(plate), "-o", str(out)]
    assert main([*args, "--no-figures"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert any("replicate" in m or "residual" in m for m in run["warnings"]), run["warnings"]
    assert (out / "report.html").exists()
    curves = pd.read_csv(out / "curves.csv")
    assert (curves["n_wells"] == 1).all() and curves["sd"].isna().all()
