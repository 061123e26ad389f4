"""Plate-map names typed two ways, and conditions with fewer wells, are warned about."""

import json
from pathlib import Path

import pandas as pd
import pytest

from incugrowth.cli import main
from incugrowth.platemap_checks import likely_typos, short_conditions

DATA = Path(__file__).parents[1] / "sample_data"
EXPORT = DATA / "export_red_count.txt"


def _plate_with(tmp_path, renames: dict[str, str]) -> Path:
    """The sample plate map with wells renamed: ``{"A1": "Untreated"}``."""
    plate = pd.read_csv(DATA / "plate_map.csv")
    for well, name in renames.items():
        plate.loc[plate["well"] == well, "treatment"] = name
    path = tmp_path / "plate_map.csv"
    plate.to_csv(path, index=False)
    return path


def _run(tmp_path, plate, capsys, *extra):
    out = tmp_path / "out"
    status = main(
        ["run", "--export", str(EXPORT), "--plate-map", str(plate), "-o", str(out)]
        + ["--no-figures", "--no-report", *extra]
    )
    assert status == 0
    err = capsys.readouterr().err
    return out, err


@pytest.mark.parametrize(
    ("well", "typed", "meant", "how"),
    [
        ("A1", "Untreated", "untreated", "differ only in case"),
        ("A10", "IFN gama", "IFN gamma", "differ by 1 letter"),
        ("D4", "IFN-alfa", "IFN alfa", "spaces or punctuation"),
        ("B2", "Lipofctamin", "Lipofectamine", "differ by 2 letters"),
    ],
)
def test_a_mistyped_well_name_is_one_warning_naming_the_well_and_the_name_meant(
    tmp_path, capsys, well, typed, meant, how
):
    out, err = _run(tmp_path, _plate_with(tmp_path, {well: typed}), capsys)
    lines = [line for line in err.splitlines() if "typo" in line]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("warning: plate_map.csv: treatment")
    assert f"({'well'} {well})" in line and f"typo of {meant!r}" in line and how in line
    # the condition the typo leaves short is not reported again as a second problem
    assert "fewer wells" not in err
    recorded = json.loads((out / "run.json").read_text())["warnings"]
    assert any(typed in w and well in w for w in recorded)


def test_the_sample_plate_map_has_no_suspect_name(tmp_path, capsys):
    _, err = _run(tmp_path, DATA / "plate_map.csv", capsys)
    assert "typo" not in err and "fewer wells" not in err


def test_a_condition_with_fewer_wells_is_named_with_its_wells(tmp_path, capsys):
    plate = pd.read_csv(DATA / "plate_map.csv")
    plate = plate[plate["well"] != "C5"]  # M464 IFN gamma: C4, C6 left
    path = tmp_path / "plate_map.csv"
    plate.to_csv(path, index=False)
    _, err = _run(tmp_path, path, capsys)
    lines = [line for line in err.splitlines() if "fewer wells" in line]
    assert len(lines) == 1
    assert "M464 IFN gamma: 2 (C4, C6)" in lines[0] and "usual 3" in lines[0]


def test_names_one_label_letter_apart_are_different_names():
    plate = pd.DataFrame(
        {
            "well": ["A1", "A2", "A3", "A4", "B1", "B2"],
            "cell_line": "M420",
            "treatment": ["Drug A"] * 4 + ["Drug B"] * 2,
        }
    )
    assert likely_typos(plate).empty


def test_names_that_differ_in_their_digits_are_different_names():
    plate = pd.DataFrame(
        {
            "well": ["A1", "A2", "A3", "B1", "B2", "C1"],
            "cell_line": ["M407 JAK1-KO"] * 3 + ["M407 JAK2-KO"] * 2 + ["M420"],
            "treatment": ["untreated"] * 6,
        }
    )
    assert likely_typos(plate, control="untreated").empty


def test_a_cell_line_typo_is_found_and_its_condition_counted_under_the_name_meant():
    plate = pd.DataFrame(
        {
            "well": ["A1", "A2", "A3", "B1", "B2", "B3"],
            "cell_line": ["M420", "M420", "m 420", "M464", "M464", "M464"],
            "treatment": "untreated",
        }
    )
    typos = likely_typos(plate, control="untreated")
    assert typos[["column", "name", "likely"]].values.tolist() == [["cell_line", "m 420", "M420"]]
    assert short_conditions(plate, typos=typos).empty
    assert short_conditions(plate)["condition"].tolist() == ["M420 untreated", "m 420 untreated"]
