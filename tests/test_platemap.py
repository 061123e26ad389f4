"""Plate maps: long CSV, grid CSV and IncuCyte .PlateMap XML, for 96 and 384 wells."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from incugrowth.errors import IncugrowthError, IncugrowthWarning
from incugrowth.platemap import (
    check_plate_map,
    normalize_well,
    plate_layout,
    read_plate_map,
    well_sort_key,
)

DATA = Path(__file__).parent / "data" / "platemaps"
BASE = ["well", "row", "col", "cell_line", "treatment", "dose", "dose_unit"]


def at(plate: pd.DataFrame, well: str) -> pd.Series:
    rows = plate[plate.well == well]
    assert len(rows) == 1, rows
    return rows.iloc[0]


# --------------------------------------------------------------------------------------
# Wells
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["B3", "b03", "B03", " b3 ", "b 3"])
def test_normalize_well_spellings(text):
    assert normalize_well(text) == "B3"


@pytest.mark.parametrize(
    "text, plate_size, message",
    [("Q1", 384, "unknown well 'Q1': rows A-P and columns 1-24 on a 384-well plate"),
     ("A13", 96, "unknown well 'A13': rows A-H and columns 1-12 on a 96-well plate"),
     ("I1", 96, "unknown well 'I1'"),
     ("B0", 96, "unknown well 'B0'"),
     ("", 96, "unknown well ''"),
     ("AA1", 384, "unknown well 'AA1'")],
)  # fmt: skip
def test_normalize_well_rejects(text, plate_size, message):
    with pytest.raises(IncugrowthError) as info:
        normalize_well(text, plate_size=plate_size)
    assert str(info.value).startswith(message)


def test_normalize_well_on_384_and_any_plate():
    assert normalize_well("p24", plate_size=384) == "P24"
    assert normalize_well("I13", plate_size=None) == "I13"
    with pytest.raises(IncugrowthError, match="plate size must be one of"):
        normalize_well("A1", plate_size=100)


def test_well_sort_key_and_plate_layout():
    assert sorted(["A10", "B1", "A2", "A1"], key=well_sort_key) == ["A1", "A2", "A10", "B1"]
    layout = plate_layout(96)
    assert len(layout) == 96
    assert list(layout.well[:13]) == [f"A{c}" for c in range(1, 13)] + ["B1"]
    assert layout.col.dtype == np.int64
    assert len(plate_layout(384)) == 384


# --------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------


def test_long_csv():
    plate = read_plate_map(DATA / "long.csv")
    assert list(plate.columns) == BASE + ["control", "replicate"]
    assert plate.attrs == {"plate_size": 96, "format": "long"}
    assert len(plate) == 5 * 7
    assert list(plate.well[:8]) == ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "C2"]
    cgamp = at(plate, "B7")
    assert (cgamp.cell_line, cgamp.treatment, cgamp.dose, cgamp.dose_unit, cgamp.control) == (
        "M420", "2'3'-cGAMP", 25.0, "ug/ml", "Lipofectamine"
    )  # fmt: skip
    assert pd.isna(at(plate, "B5").control)
    assert at(plate, "F5").treatment == "IFN gamma" and at(plate, "F5").dose == 100.0
    lipo = at(plate, "C6")
    assert lipo.treatment == "Lipofectamine" and np.isnan(lipo.dose) and lipo.dose_unit == ""
    assert at(plate, "E8").treatment == "untreated"  # blank treatment in a listed well
    assert plate.replicate.dtype == np.int64
    assert plate.dose.dtype == np.float64 and plate.col.dtype == np.int64
    assert list(plate["row"].unique()) == list("BCDEF")


def test_long_csv_semicolon_bom_and_header_spellings():
    plate = read_plate_map(DATA / "long_semicolon_bom.csv")
    assert list(plate.columns) == BASE + ["plate_side"]
    assert list(plate.well) == ["B2", "B3", "B4", "C2"]
    assert at(plate, "B2").dose == 0.5  # decimal comma
    assert at(plate, "B3").treatment == "IFN gamma"  # written b03
    assert at(plate, "B4").treatment == "untreated"
    c2 = at(plate, "C2")
    assert (c2.dose, c2.dose_unit) == (5000.0, "U/ml")  # "5000 U/ml" in the dose cell
    assert at(plate, "C2").plate_side == "right"


@pytest.mark.parametrize("name", ["excel_semicolon_thousands.csv", "excel_comma_thousands.csv"])
def test_plate_map_resaved_by_excel_with_thousands_separators(name, recwarn):
    """European Excel writes 1000 as '1.000' (beside '0,5'), US Excel as '"1,000"'."""
    plate = read_plate_map(DATA / name)
    assert list(plate.well) == ["B2", "B3", "B4", "B5"]  # "B02", "b3"; blank rows left out
    assert list(plate.dose.fillna(-1)) == ([1000.0, 0.5, 2500.5, -1] if "semicolon" in name
                                           else [1000.0, 100.0, 2500.5, -1])  # fmt: skip
    assert list(plate.dose_unit) == ["nM", "nM", "nM", ""]
    assert list(plate.treatment) == ["Drug", "Drug", "Drug", "untreated"]
    assert list(plate.columns) == BASE
    assert not recwarn.list


@pytest.mark.parametrize(
    "sep, doses, expected",
    [(",", ['"1,000"', "10"], [1000.0, 10.0]),
     (",", ['"1,000"', '"0,5"'], [1.0, 0.5]),  # a decimal comma, quoted in a comma CSV
     (";", ["1.000", "10"], [1000.0, 10.0]),
     (";", ["1,000", "0,5"], [1.0, 0.5]),
     (";", ["1.000,5 nM", "10 nM"], [1000.5, 10.0]),
     ("\t", ["1 000", "5"], [1000.0, 5.0]),  # not dose 1 with unit "000"
     ("\t", ["1\u202f000 nM", "5 nM"], [1000.0, 5.0]),
     ("\t", ["1,000", "5"], [1000.0, 5.0]),
     ("\t", ["12,5", "1.000"], [12.5, 1000.0]),
     (",", ['"1,000,000 pM"', "10 pM"], [1e6, 10.0]),
     (",", ["2.5e3", '"1,000"'], [2500.0, 1000.0])],
)  # fmt: skip
def test_dose_thousands_separators_and_decimal_mark(tmp_path, recwarn, sep, doses, expected):
    lines = [sep.join(["well", "cell_line", "treatment", "dose"])]
    lines += [sep.join([f"B{i}", "M420", "drug", d]) for i, d in enumerate(doses, start=2)]
    plate = read_plate_map(write(tmp_path, "\n".join(lines) + "\n"))
    assert list(plate.dose) == expected
    assert not recwarn.list


def test_dose_that_could_be_read_both_ways_is_named_in_a_warning(tmp_path):
    """In a semicolon CSV a comma is the decimal mark, but '1,000' beside '10' may be 1000."""
    text = "well;cell_line;treatment;dose\nB2;M420;drug;1,000\nB3;M420;drug;10\n"
    with pytest.warns(
        IncugrowthWarning, match=r"plate.csv: dose '1,000' read as 1: ',' taken as the decimal"
    ):
        plate = read_plate_map(write(tmp_path, text))
    assert list(plate.dose) == [1.0, 10.0]


def test_doses_written_two_ways_are_an_error_naming_the_line(tmp_path):
    text = "well\tcell_line\ttreatment\tdose\nB2\tM420\tdrug\t0,5\nB3\tM420\tdrug\t2.5\n"
    with pytest.raises(
        IncugrowthError, match=r"plate.csv:2: dose '0,5' and elsewhere dose '2.5': both ','"
    ):
        read_plate_map(write(tmp_path, text))
    header = "," + ",".join(str(i) for i in range(1, 13))
    text = (f"Cell line\n{header}\nB,,M420,M420\n\nTreatment\n{header}\nB,,drug,drug\n\n"
            f'Dose\n{header}\nB,,"1,000,000","0,5"\n')  # fmt: skip
    with pytest.raises(IncugrowthError, match=r"plate.csv:11: dose '1,000,000' and elsewhere"):
        read_plate_map(write(tmp_path, text))


def test_no_dose_markers(tmp_path):
    path = tmp_path / "na.csv"
    path.write_text("well,cell_line,treatment,dose\nB2,M420,untreated,NA\nB3,M420,x,-\n")
    assert read_plate_map(path).dose.isna().all()


@pytest.mark.parametrize(
    "name", ["r_write_csv.csv", "r_write_csv_no_row_names.csv", "r_write_table.tsv"]
)
def test_plate_maps_written_by_r(name):
    # R writes a missing value as NA (unquoted) and, by default, the row names 1, 2, 3... in a
    # first column without a name (write.csv) or without a header cell (write.table)
    plate = read_plate_map(DATA / name)
    assert list(plate.columns) == BASE + ["passage"]
    assert list(plate.well) == ["B2", "B3", "B4", "C2", "C3"]
    assert list(plate.treatment) == ["untreated", "IFN gamma", "IFN gamma", "IFN beta", "untreated"]
    assert list(plate.dose.fillna(-1)) == [-1, 100.0, 100.0, 500.0, -1]
    assert list(plate.dose_unit) == ["", "ng/ml", "ng/ml", "U/ml", ""]
    assert list(plate.cell_line.fillna("-")) == ["M420", "M420", "-", "M464", "M464"]
    assert list(plate.passage.fillna(-1)) == [12.0, 12.0, -1, 9.0, 9.0]


@pytest.mark.parametrize("na", ["NA", '"NA"', "#N/A"])
def test_na_cells_are_empty_but_other_words_are_kept(tmp_path, na):
    path = write(tmp_path, f"well,cell_line,treatment,note\nB2,M420,{na},{na}\nB3,{na},None,\n"
                 f"B4,{na},{na},{na}\n")  # fmt: skip
    plate = read_plate_map(path)
    assert list(plate.well) == ["B2", "B3"]  # B4 holds nothing: not in use
    assert list(plate.treatment) == ["untreated", "None"]
    assert plate.cell_line.tolist()[0] == "M420" and pd.isna(plate.cell_line.tolist()[1])
    assert plate.note.isna().all()


@pytest.mark.parametrize(
    "text",
    ['"","well","cell_line","treatment"\n"2","B2","M420","x"\n"5","B3","M420","y"\n',
     '"","well","cell_line","treatment"\n"a","B2","M420","x"\n',
     '"well","cell_line","treatment"\n"2","B2","M420","x"\n'],
)  # fmt: skip
def test_an_unnamed_first_column_other_than_row_numbers_is_an_error(tmp_path, text):
    with pytest.raises(IncugrowthError, match=r"plate.csv:(1: column 1 has no name|2: 4 cells)"):
        read_plate_map(write(tmp_path, text))


def test_long_csv_with_row_and_column_instead_of_well(tmp_path):
    path = tmp_path / "rc.csv"
    path.write_text("Row,Column,Cell line,Treatment\nB,3,M420,IFN beta\nP,24,M464,\n")
    plate = read_plate_map(path)
    assert list(plate.well) == ["B3", "P24"]
    assert plate.attrs["plate_size"] == 384


def test_grid_96():
    plate = read_plate_map(DATA / "grid_96.csv")
    assert list(plate.columns) == BASE
    assert plate.attrs == {"plate_size": 96, "format": "grid"}
    assert len(plate) == 30
    assert at(plate, "B2").treatment == "untreated"  # cell line, empty treatment cell
    f7 = at(plate, "F7")
    assert (f7.cell_line, f7.treatment, f7.dose, f7.dose_unit) == (
        "M407 JAK2-KO", "2'3'-cGAMP", 25.0, "ug/ml"
    )  # fmt: skip
    assert at(plate, "D3").dose == 5000.0
    assert "A1" not in set(plate.well)  # empty cells: well not used


def test_grid_384():
    plate = read_plate_map(DATA / "grid_384.csv")
    assert plate.attrs == {"plate_size": 384, "format": "grid"}
    assert list(plate.well) == ["A1", "H12", "I13", "P24"]
    assert at(plate, "I13").treatment == "IFN beta" and at(plate, "I13").dose == 500.0
    assert at(plate, "H12").treatment == "untreated"
    assert at(plate, "P24").cell_line == "M464"


def test_incucyte_platemap_xml_96():
    plate = read_plate_map(DATA / "plate_96.PlateMap")
    assert plate.attrs == {"plate_size": 96, "format": "xml"}
    assert list(plate.columns) == BASE + [
        "passage", "seeding_density", "seeding_density_units", "growth_condition"
    ]  # fmt: skip
    assert len(plate) == 31
    b2 = at(plate, "B2")  # xml row 1, col 1
    assert (b2.cell_line, b2.treatment, b2.passage, b2.growth_condition) == (
        "M420", "untreated", 11, "10% FBS"
    )  # fmt: skip
    assert at(plate, "C5").treatment == "IFN gamma" and at(plate, "C5").dose == 100.0
    assert at(plate, "F7").dose_unit == "ug/ml"
    dmso = at(plate, "H12")  # a compound and no cell type
    assert pd.isna(dmso.cell_line) and dmso.treatment == "DMSO" and dmso.dose == 0.1
    assert dmso.dose_unit == "%"
    assert np.isnan(at(plate, "B6").dose)  # Lipofectamine without a concentration


def test_incucyte_platemap_xml_384():
    plate = read_plate_map(DATA / "plate_384.PlateMap")
    assert plate.attrs["plate_size"] == 384
    assert list(plate.well) == ["A1", "I13", "P24"]
    assert at(plate, "P24").treatment == "untreated"
    assert at(plate, "A1").seeding_density == 1000


def test_a_platemap_numbered_from_1_is_not_read_shifted_in_silence(tmp_path):
    # plate_96.PlateMap with every row and col one higher: col="12" cannot be numbered from 0
    text = (DATA / "plate_96.PlateMap").read_text(encoding="utf-8-sig")
    shifted = re.sub(
        r'<well row="(\d+)" col="(\d+)"',
        lambda m: f'<well row="{int(m[1]) + 1}" col="{int(m[2]) + 1}"',
        text,
    )
    path = tmp_path / "from_1.PlateMap"
    path.write_text(shifted, encoding="utf-8-sig")
    with pytest.raises(IncugrowthError, match=r"from_1.PlateMap: the wells look numbered from 1"):
        read_plate_map(path, plate_format=96)
    with pytest.warns(IncugrowthWarning, match=r"from_1.PlateMap: .*numbered from 1.*384-well"):
        plate = read_plate_map(path)
    assert plate.attrs["plate_size"] == 384 and at(plate, "C3").cell_line == "M420"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numbered from 0, as IncuCyte writes it: no warning
        assert read_plate_map(path, plate_format=384).attrs["plate_size"] == 384
        assert read_plate_map(DATA / "plate_96.PlateMap").attrs["plate_size"] == 96
        assert read_plate_map(DATA / "plate_384.PlateMap").attrs["plate_size"] == 384


def test_plate_format_checks_and_forces_the_size(tmp_path):
    assert read_plate_map(DATA / "long.csv", plate_format="384-well").attrs["plate_size"] == 384
    with pytest.raises(IncugrowthError, match=r"grid_384.csv:\d+: unknown well 'I13'"):
        read_plate_map(DATA / "grid_384.csv", plate_format=96)
    with pytest.raises(IncugrowthError, match="plate_384.PlateMap: .*off the plate"):
        read_plate_map(DATA / "plate_384.PlateMap", plate_format=96)
    with pytest.raises(IncugrowthError, match="plate_format must be one of"):
        read_plate_map(DATA / "long.csv", plate_format="big")


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


def write(tmp_path, text, name="plate.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_required_columns(tmp_path):
    path = write(tmp_path, "well,line,dose\nB2,M420,1\n")
    with pytest.raises(IncugrowthError) as info:
        read_plate_map(path)
    assert str(info.value) == (
        f"{path}:1: missing required column(s) 'cell_line', 'treatment'; "
        "header found: 'well,line,dose'"
    )


def test_duplicate_well_names_both_lines(tmp_path):
    path = write(tmp_path, "well,cell_line,treatment\nB2,M420,x\nC2,M420,y\nb02,M420,z\n")
    with pytest.raises(
        IncugrowthError, match=r"plate.csv:4: well B2 appears twice \(lines 2 and 4\)"
    ):
        read_plate_map(path)


def test_unknown_well_and_bad_dose_name_the_line(tmp_path):
    path = write(tmp_path, "well,cell_line,treatment\nB2,M420,x\nQ9,M420,y\n")
    with pytest.raises(IncugrowthError, match=r"plate.csv:3: unknown well 'Q9'"):
        read_plate_map(path)
    path = write(tmp_path, "well,cell_line,treatment,dose\nB2,M420,x,1\nB3,M420,y,lots\n")
    with pytest.raises(IncugrowthError, match=r"plate.csv:3: dose 'lots' is not a number"):
        read_plate_map(path)
    path = write(tmp_path, "well,cell_line,treatment,dose\nB2,M420,x,-1\n")
    with pytest.raises(IncugrowthError, match=r"plate.csv:2: dose '-1' is negative"):
        read_plate_map(path)
    path = write(tmp_path, "well,cell_line,treatment,dose,dose_unit\nB2,M420,x,1 nM,uM\n")
    with pytest.raises(IncugrowthError, match=r"plate.csv:2: dose '1 nM' carries a unit"):
        read_plate_map(path)


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(IncugrowthError, match="plate.csv: the file is empty"):
        read_plate_map(write(tmp_path, "\n \n"))
    with pytest.raises(IncugrowthError, match="gone.csv: file not found"):
        read_plate_map(tmp_path / "gone.csv")
    with pytest.raises(IncugrowthError, match="plate.csv: the plate map has no wells in use"):
        read_plate_map(write(tmp_path, "well,cell_line,treatment\nB2,,\n"))


def test_not_a_plate_map(tmp_path):
    path = write(tmp_path, "sample,value\nx,1\n")
    with pytest.raises(IncugrowthError, match=r"plate.csv:1: not a plate map: no 'well' column"):
        read_plate_map(path)


def test_malformed_xml_names_file_and_line(tmp_path):
    text = (DATA / "plate_96.PlateMap").read_text(encoding="utf-8-sig")
    broken = text.replace("</wellStore>", "</wellstore>")
    path = write(tmp_path, broken, name="broken.PlateMap")
    line = broken.splitlines().index("  </wellstore>") + 1
    with pytest.raises(
        IncugrowthError, match=rf"broken.PlateMap:{line}: malformed XML: mismatched tag"
    ):
        read_plate_map(path)


def test_xml_with_an_unknown_encoding_is_malformed(tmp_path):
    path = write(tmp_path, '<?xml version="1.0" encoding="f-8"?><plateMap/>', "enc.PlateMap")
    with pytest.raises(IncugrowthError, match="enc.PlateMap: malformed XML"):
        read_plate_map(path)


def test_xml_bad_wells(tmp_path):
    head = '<?xml version="1.0" encoding="utf-8"?><plateMap><wellStore><wells>'
    tail = "</wells></wellStore></plateMap>"
    item = ('<items><wellItem type="Compound" concentration="{}" concentrationUnits="nM">'
            '<referenceItem displayName="drug" /></wellItem></items>')  # fmt: skip
    cases = [
        ('<well row="1" col="1" /><well row="1" col="1" />', "well B2 is listed twice"),
        ('<well row="x" col="1" />', "row and col must be 0-based integers"),
        (f'<well row="2" col="3">{item.format("abc")}</well>', "well C4: dose 'abc' is not a"),
        ("", "no <well> elements"),
    ]
    for body, message in cases:
        path = write(tmp_path, head + body + tail, name="bad.PlateMap")
        with pytest.raises(IncugrowthError, match=f"bad.PlateMap: .*{message}"):
            read_plate_map(path)


def test_grid_with_zero_padded_column_numbers_and_lower_case_rows(tmp_path):
    header = ";" + ";".join(f"{i:02d}" for i in range(1, 13)) + ";;"
    text = (f"\ufeffCell line{header}\nb;;M420;M420;;;;;;;;;;;\n;;;;;;;;;;;;;;\n"
            f"Treatment{header}\nb;;x;y;;;;;;;;;;;\n;;;;;;;;;;;;;;\n;;;;;;;;;;;;;;\n")  # fmt: skip
    plate = read_plate_map(write(tmp_path, text))
    assert plate.attrs["format"] == "grid"
    assert list(plate.well) == ["B2", "B3"] and list(plate.treatment) == ["x", "y"]


def test_grid_errors(tmp_path):
    header = "," + ",".join(str(i) for i in range(1, 13))
    only_cells = f"cell_line\n{header}\nA,M420\n"
    with pytest.raises(IncugrowthError, match=r"missing required block\(s\) 'treatment'; "
                       "blocks found: 'cell_line'"):  # fmt: skip
        read_plate_map(write(tmp_path, only_cells))
    no_name = f"{header}\nA,M420\n"
    with pytest.raises(IncugrowthError, match=r"plate.csv:1: this block has no name"):
        read_plate_map(write(tmp_path, no_name))
    twice = f"treatment\n{header}\nA,x\n\ntreatment\n{header}\nA,y\n"
    with pytest.raises(IncugrowthError, match=r"plate.csv:6: two blocks named 'treatment'"):
        read_plate_map(write(tmp_path, twice))
    bad_dose = f"cell_line\n{header}\nA,M420\n\ntreatment\n{header}\nA,x\n\ndose\n{header}\nA,zz\n"
    with pytest.raises(IncugrowthError, match=r"plate.csv:11: dose 'zz' is not a number"):
        read_plate_map(write(tmp_path, bad_dose))


# --------------------------------------------------------------------------------------
# Plate map against the data
# --------------------------------------------------------------------------------------


def test_check_plate_map_warns_both_ways():
    plate = read_plate_map(DATA / "grid_384.csv")
    with pytest.warns(IncugrowthWarning) as record:
        problems = check_plate_map(plate, ["A01", "I13", "P24", "J3", "K4"], path="map.csv")
    assert len(record) == 2
    assert problems == [
        "map.csv: 1 well in the plate map has no data: H12",
        "map.csv: 2 wells have data but are not in the plate map (left out of the analysis): "
        "J3, K4",
    ]
    assert [str(r.message) for r in record] == problems


def test_check_plate_map_silent_when_matching(recwarn):
    plate = read_plate_map(DATA / "long_semicolon_bom.csv")
    assert check_plate_map(plate, ["B2", "B3", "B4", "C2", "B2"]) == []
    assert len(recwarn) == 0


# --------------------------------------------------------------------------------------
# Dose units in the header
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Dose (nM)", "Concentration [nM]", "Conc. (nM)", "conc (nM)"])
def test_dose_unit_in_the_long_header(tmp_path, header):
    text = f"Well,Cell line,Treatment,{header},Seeding density (cells/well)\n"
    text += "B2,M420,drug,10,2000\nB3,M420,drug,0.5,2000\nB4,M420,untreated,,2000\n"
    plate = read_plate_map(write(tmp_path, text))
    assert list(plate.dose.fillna(-1)) == [10.0, 0.5, -1]
    assert list(plate.dose_unit) == ["nM", "nM", ""]
    assert list(plate.columns) == BASE + ["seeding_density_cells_well"]


def test_dose_unit_in_the_grid_block_name(tmp_path):
    header = "," + ",".join(str(i) for i in range(1, 13))
    text = (f"Cell line\n{header}\nB,,M420,M420\n\nTreatment\n{header}\nB,,drug,drug\n\n"
            f"Concentration (ng/ml)\n{header}\nB,,100,10\n")  # fmt: skip
    plate = read_plate_map(write(tmp_path, text))
    assert list(plate.well) == ["B2", "B3"]
    assert list(plate.dose) == [100.0, 10.0] and list(plate.dose_unit) == ["ng/ml", "ng/ml"]


def test_dose_unit_in_header_and_cell_must_agree(tmp_path):
    text = "well,cell_line,treatment,Dose (nM)\nB2,M420,drug,10 nM\nB3,M420,drug,1 uM\n"
    with pytest.raises(IncugrowthError) as info:
        read_plate_map(write(tmp_path, text))
    assert str(info.value).endswith(
        "plate.csv:3: dose '1 uM' has the unit 'uM' but the dose column's header says 'nM'"
    )


# --------------------------------------------------------------------------------------
# Several compounds in one well (.PlateMap)
# --------------------------------------------------------------------------------------


def _compound(name, conc, unit):
    return (f'<wellItem type="Compound" concentration="{conc}" concentrationUnits="{unit}">'
            f'<referenceItem type="Compound" description="{name}" displayName="{name}" '
            'colorArgb="-1447616" /></wellItem>')  # fmt: skip


def _xml_plate(tmp_path, wells: dict[str, list[tuple]]) -> Path:
    cell = ('<wellItem type="CellType" passage="3"><referenceItem type="CellType" '
            'description="M420" displayName="M420" colorArgb="-1" /></wellItem>')  # fmt: skip
    body = []
    for well, compounds in wells.items():
        row, col = ord(well[0]) - 65, int(well[1:]) - 1
        items = cell + "".join(_compound(*c) for c in compounds)
        body.append(f'<well row="{row}" col="{col}"><items>{items}</items></well>')
    text = ('<?xml version="1.0" encoding="utf-8"?>\r\n<plateMap><wellStore><wells>'
            + "".join(body) + "</wells></wellStore></plateMap>")  # fmt: skip
    path = tmp_path / "multi.PlateMap"
    path.write_bytes(text.encode("utf-8-sig"))
    return path


def test_dose_series_in_a_vehicle_takes_the_dose_of_the_drug(tmp_path):
    dmso = ("DMSO", "0.1", "%")
    plate = read_plate_map(_xml_plate(tmp_path, {
        "B2": [dmso], "B3": [dmso, ("Drug", "10", "µM")], "B4": [dmso, ("Drug", "1", "µM")],
    }))  # fmt: skip
    assert list(plate.treatment) == ["DMSO", "DMSO + Drug", "DMSO + Drug"]
    assert list(plate.dose) == [0.1, 10.0, 1.0]
    assert list(plate.dose_unit) == ["%", "µM", "µM"]
    assert at(plate, "B4").doses == "DMSO 0.1 % + Drug 1 µM"


def test_one_concentration_written_two_ways_is_one_concentration(tmp_path):
    """'0.10' and '0.1' % DMSO are the same vehicle: the drug's doses stay one series."""
    plate = read_plate_map(_xml_plate(tmp_path, {
        "B2": [("DMSO", "0.1", "%")],
        "B3": [("DMSO", "0.10", "%"), ("Drug", "10", "µM")],
        "B4": [("DMSO", "1e-1", "%"), ("Drug", "1.0", "µM")],
    }))  # fmt: skip
    assert list(plate.treatment) == ["DMSO", "DMSO + Drug", "DMSO + Drug"]
    assert list(plate.dose) == [0.1, 10.0, 1.0]
    assert at(plate, "B4").doses == "DMSO 0.1 % + Drug 1 µM"


def test_single_dose_drug_in_a_vehicle_is_not_given_the_vehicle_dose(tmp_path):
    dmso = ("DMSO", "0.1", "%")
    plate = read_plate_map(_xml_plate(tmp_path, {
        "B2": [dmso], "B3": [dmso, ("Drug", "10", "µM")], "B4": [dmso, ("Drug", "10", "µM")],
    }))  # fmt: skip
    assert list(plate.dose) == [0.1, 10.0, 10.0]
    assert list(plate.treatment) == ["DMSO", "DMSO + Drug", "DMSO + Drug"]


def test_combination_keeps_both_concentrations_apart(tmp_path):
    plate = read_plate_map(_xml_plate(tmp_path, {
        "C2": [("A", "1", "µM"), ("B", "5", "nM")], "C3": [("A", "2", "µM"), ("B", "5", "nM")],
        "C4": [("A", "1", "µM"), ("B", "50", "nM")], "C5": [("A", "2", "µM"), ("B", "50", "nM")],
    }))  # fmt: skip
    assert list(plate.treatment) == ["A + B 5 nM", "A + B 5 nM", "A + B 50 nM", "A + B 50 nM"]
    assert list(plate.dose) == [1.0, 2.0, 1.0, 2.0]
    conditions = plate[["treatment", "dose"]].drop_duplicates()
    assert len(conditions) == 4  # no two wells of different doses pooled


def test_compounds_added_to_wells_in_either_order_are_one_treatment(tmp_path):
    """IncuCyte lists a well's compounds as they were added: 'Lipofectamine + cGAMP' in one
    well may be 'cGAMP + Lipofectamine' in the next; the treatment is one, in the order of
    the plate map's compound list."""
    lipo, cgamp = ("Lipofectamine", "1", "%"), ("2'3'-cGAMP", "25", "ug/ml")
    wells = {"B2": [lipo], "B3": [lipo, cgamp], "B4": [cgamp, lipo], "B5": [cgamp, lipo]}
    path = _xml_plate(tmp_path, wells)
    plate = read_plate_map(path)
    assert list(plate.treatment) == ["Lipofectamine"] + ["Lipofectamine + 2'3'-cGAMP"] * 3
    assert list(plate.dose) == [1.0, 25.0, 25.0, 25.0]
    assert list(plate.dose_unit) == ["%", "ug/ml", "ug/ml", "ug/ml"]
    assert set(plate.doses.dropna()) == {"Lipofectamine 1 % + 2'3'-cGAMP 25 ug/ml"}
    # the plate map's list of compounds sets the order, here cGAMP first
    listed = ('<referenceItemManager><referenceItems><referenceItem type="Compound" '
              "description=\"2'3'-cGAMP\" displayName=\"2'3'-cGAMP\" colorArgb=\"-1\" />"
              '<referenceItem type="Compound" description="Lipofectamine" '
              'displayName="Lipofectamine" colorArgb="-2" /></referenceItems>'
              "</referenceItemManager>")  # fmt: skip
    text = path.read_bytes().decode("utf-8-sig").replace("<plateMap>", "<plateMap>" + listed)
    path.write_bytes(text.encode("utf-8-sig"))
    plate = read_plate_map(path)
    assert list(plate.treatment) == ["Lipofectamine"] + ["2'3'-cGAMP + Lipofectamine"] * 3
    assert list(plate.dose) == [1.0, 25.0, 25.0, 25.0]


def test_title_lines_above_the_long_header_are_skipped(tmp_path):
    text = "Plate map IFN experiment 3,,,\nseeded 25/11/2026,,,\nWell,Cell line,Treatment,Dose\n"
    text += "B2,M420,IFN gamma,100\nB3,M420,,\n"
    plate = read_plate_map(write(tmp_path, text))
    assert list(plate.well) == ["B2", "B3"]
    assert list(plate.treatment) == ["IFN gamma", "untreated"]
    assert plate.dose.tolist()[0] == 100.0


def test_co_culture_keeps_both_cell_types(tmp_path):
    path = _xml_plate(tmp_path, {"B2": [("IFN gamma", "100", "ng/ml")]})
    text = path.read_bytes().decode("utf-8-sig")
    t_cells = ('<wellItem type="CellType" passage="1"><referenceItem type="CellType" '
               'description="CD8 T cells" displayName="CD8 T cells" /></wellItem>')  # fmt: skip
    path.write_bytes(text.replace("</items>", t_cells + "</items>").encode("utf-8-sig"))
    plate = read_plate_map(path)
    assert plate.cell_line.tolist() == ["M420 + CD8 T cells"]
    assert plate.treatment.tolist() == ["IFN gamma"] and plate.dose.tolist() == [100.0]


def test_co_culture_added_in_either_order_is_one_cell_line(tmp_path):
    path = _xml_plate(tmp_path, {"B2": [], "B3": []})
    text = path.read_bytes().decode("utf-8-sig")
    t_cells = ('<wellItem type="CellType" passage="1"><referenceItem type="CellType" '
               'description="CD8 T cells" displayName="CD8 T cells" /></wellItem>')  # fmt: skip
    b3 = '<well row="1" col="2"><items>'
    text = text.replace("</items>", t_cells + "</items>", 1)  # B2: M420, then T cells
    text = text.replace(b3, b3 + t_cells)  # B3: T cells, then M420
    path.write_bytes(text.encode("utf-8-sig"))
    plate = read_plate_map(path)
    assert plate.cell_line.tolist() == ["M420 + CD8 T cells"] * 2


@pytest.mark.parametrize(
    "header, cell",
    [("Dose (µM)", "1 uM"), ("Dose (uM)", "1 μM"), ("Dose (ng/mL)", "5 ng/ml")],
)
def test_spellings_of_one_unit_agree(tmp_path, header, cell):
    """µ (micro sign), μ (Greek mu) and u, and the case of litre, name one unit."""
    text = f"well,cell_line,treatment,{header}\nB2,M420,drug,{cell}\n"
    row = read_plate_map(write(tmp_path, text)).iloc[0]
    assert row["dose"] in (1.0, 5.0) and row["dose_unit"] == header.split("(")[1][:-1]


def test_a_unit_column_and_the_same_unit_in_the_dose_cell_agree(tmp_path):
    text = "well,cell_line,treatment,dose,dose_unit\nB2,M420,drug,1 uM,µM\n"
    row = read_plate_map(write(tmp_path, text)).iloc[0]
    assert row["dose"] == 1.0 and row["dose_unit"] == "µM"
