"""IncuCyte metric exports: every variant read into the export table, and turned into counts."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from incugrowth.errors import IncugrowthError, IncugrowthWarning
from incugrowth.exports import EXPORT_COLUMNS, export_to_counts, read_export, read_exports

DATA = Path(__file__).parent / "data" / "exports"


def value_at(df, well, elapsed_h, field=None, column="value"):
    rows = df[(df.well == well) & (df.elapsed_h == elapsed_h)]
    rows = rows[rows.field.isna()] if field is None else rows[rows.field == field]
    assert len(rows) == 1, rows
    return rows[column].iloc[0]


def write_export(path: Path, header: list[str], rows: list[list], preamble: str = "") -> Path:
    lines = [preamble] if preamble else []
    lines.append("\t".join(["Date Time", "Elapsed", *header]))
    lines += ["\t".join(["1/1/2026 9:00", *map(str, row)]) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------


def test_zoom_preamble_per_image_columns():
    df = read_export(DATA / "zoom_per_image.txt")
    assert list(df.columns) == EXPORT_COLUMNS
    assert df.attrs["preamble"] == {
        "Label": "M420 IFN 2026-11-25",
        "Metric": "Red Object Count (Per Image)",
        "Cell Type": "M420",
        "Passage": "12",
        "Notes": "",
        "Analysis Job": "nuclei_red_10x",
    }
    assert len(df) == 2 * 3 * 5
    assert set(df.well) == {"B2", "C2"}
    assert sorted(df.field.unique()) == [1.0, 2.0, 3.0]
    assert df.group.isna().all()
    assert value_at(df, "B2", 24.0, field=3) == 123.0
    assert value_at(df, "C2", 6.0, field=1) == 113.0
    assert sorted(df.elapsed_h.unique()) == [0.0, 6.0, 12.0, 18.0, 24.0]
    assert (df.metric == "Red Object Count (Per Image)").all()
    assert (df.unit == "Per Image").all()
    assert (df.source == "zoom_per_image.txt").all()
    assert df[["std_dev", "std_err"]].isna().all().all()


def test_s3_preamble_bom_crlf_and_error_columns_kept_apart():
    df = read_export(DATA / "s3_std_err.txt")
    assert df.attrs["preamble"]["Vessel Name"] == "IFN plate 1"
    assert df.attrs["preamble"]["Analysis"] == "NucLight 10x"
    assert set(df.well) == {"A1", "B1", "B2", "B3"}  # no "B2 (Std Err Img)" well
    assert len(df) == 4 * 4
    assert value_at(df, "B2", 0.0) == 200.5
    assert value_at(df, "B2", 0.0, column="std_err") == 4.25
    assert np.isnan(value_at(df, "B2", 0.0, column="std_dev"))
    assert value_at(df, "A1", 8.0, column="std_dev") == 2.5
    assert value_at(df, "B1", 24.0, column="std_err") == 1.0
    assert value_at(df, "B3", 24.0) == 390.0
    assert (df.unit == "1/Image").all()


@pytest.mark.parametrize(
    "suffix, column",
    [("Std Error", "std_err"), ("Std Error Img", "std_err"), ("Std. Err.", "std_err"),
     ("Standard Error Well", "std_err"), ("std err img", "std_err"), ("StdErr", "std_err"),
     ("Std Deviation", "std_dev"), ("StDev", "std_dev"), ("Std Dev Image", "std_dev")],
)  # fmt: skip
def test_error_columns_spelt_out_stay_error_columns(tmp_path, suffix, column):
    """'B2 (Std Error)' is B2's standard error, not a plate-map group named so."""
    path = write_export(tmp_path / "x.txt", ["B2", f"B2 ({suffix})"], [[0, 100, 4.5]],
                        preamble="Metric: Red Object Count (1/Image)\n")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_export(path)
        export_to_counts(df)
    assert len(df) == 1 and df.group.isna().all()
    assert value_at(df, "B2", 0.0) == 100.0 and value_at(df, "B2", 0.0, column=column) == 4.5


def test_one_line_preamble():
    df = read_export(DATA / "one_line_preamble.txt")
    assert df.attrs["preamble"] == {"Metric": "Phase Object Confluence (Percent)"}
    assert (df.unit == "Percent").all()
    assert value_at(df, "B2", 4.0) == 12.25


def test_no_preamble_takes_metric_from_file_stem(tmp_path):
    df = read_export(DATA / "no_preamble.txt")
    assert df.attrs["preamble"] == {}
    assert (df.metric == "no_preamble").all()
    assert (df.unit == "").all()
    named = read_export(DATA / "no_preamble.txt", metric="Red Object Count (1/Well)")
    assert (named.metric == "Red Object Count (1/Well)").all()
    assert (named.unit == "1/Well").all()
    pd.testing.assert_series_equal(df.value, named.value)


@pytest.mark.parametrize(
    "metric, unit",
    [("Red Object Count (1/mm²)", "1/mm²"), ("Red Object Count (1/Well)", "1/Well"),
     ("Phase Object Confluence (Percent)", "Percent"),
     ("Red Object Count (Per Image)", "Per Image"),
     ("Total Red Object Area (µm²/Image)", "µm²/Image"), ("Red Object Count", "")],
)  # fmt: skip
def test_unit_from_metric_name(metric, unit):
    df = read_export(DATA / "no_preamble.txt", metric=metric)
    assert (df.unit == unit).all() and (df.metric == metric).all()


def test_decimal_comma_german_dates():
    df = read_export(DATA / "decimal_comma_de.txt")
    assert value_at(df, "B2", 0.0) == 12.5
    assert value_at(df, "B2", 6.5) == 13.75
    assert value_at(df, "B3", 0.0) == pytest.approx(2.354702e07)
    assert sorted(df.elapsed_h.unique()) == [0.0, 6.5, 24.0]
    assert (df.unit == "µm²/Image").all()


@pytest.mark.parametrize("name", ["excel_thousands_us.txt", "excel_thousands_de.txt"])
def test_thousands_separators_of_an_export_resaved_by_excel(name):
    """'1,204' (US Excel, quoted) and '1.204' (German Excel) are 1204 cells, not 1.204."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_export(DATA / name)
    assert df.attrs["preamble"]["Metric"] == "Red Object Count (1/Well)"
    b2 = df[df.well == "B2"].sort_values("elapsed_h")
    b3 = df[df.well == "B3"].sort_values("elapsed_h")
    assert list(b2.value) == [850.0, 975.0, 1102.0, 1263.0]
    assert list(b3.value) == [1204.0, 1388.0, 1596.0, 12840.0]
    assert list(b2.std_err) == [12.5, 14.0, 15.75, 18.0]
    assert list(b3.std_err) == [20.25, 21.0, 22.5, 1003.5]
    assert sorted(df.elapsed_h.unique()) == [0.0, 8.0, 16.0, 24.0]


@pytest.mark.parametrize(
    "cells, values",
    [(["850", '"1,234"'], [850.0, 1234.0]),  # a plain integer beside: thousands
     (['"1,234,567"', '"2,000"'], [1234567.0, 2000.0]),  # two groups: thousands
     (["12,5", "1,234"], [12.5, 1.234]),  # "12,5" is a decimal comma, so "1,234" is 1.234
     (["0,33", "1,25"], [0.33, 1.25]),
     (["12.5", '"1,234.5"'], [12.5, 1234.5]),
     (["12,5", "1.234,5"], [12.5, 1234.5]),  # German: thousands point, decimal comma
     (["12,5", "1.234"], [12.5, 1234.0]),
     (["12,5", "1 234,5"], [12.5, 1234.5]),  # French: space, no-break or narrow space
     (["12,5", "1\u00a0234,5"], [12.5, 1234.5]),
     (["12,5", "1\u202f234"], [12.5, 1234.0]),
     (["850", "1 234"], [850.0, 1234.0]),
     (["12.5", "1'234.5"], [12.5, 1234.5]),  # Swiss
     (["2,354702E+07", "1,234"], [2.354702e07, 1.234]),
     (["2.354702E+07", '"1,234"'], [2.354702e07, 1234.0]),
     (["-1,234", "850"], [np.nan, 850.0])],  # a negative count is a failed image
)  # fmt: skip
def test_decimal_mark_and_thousands_separators_decided_from_the_cells(tmp_path, cells, values):
    path = write_export(tmp_path / "x.txt", ["B2", "B3"], [[0, *cells]],
                        preamble="Metric: Red Object Count (1/Image)\n")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error" if not np.isnan(values).any() else "ignore")
        df = read_export(path)
    assert df.value.tolist() == pytest.approx(values, nan_ok=True)


def test_undecided_thousands_commas_are_read_as_thousands_with_a_warning(tmp_path):
    path = write_export(tmp_path / "x.txt", ["B2", "B3"], [[0, '"1,204"', '"1,388"'],
                        [24, '"2,410"', '"2,775"']])  # fmt: skip
    with pytest.warns(
        IncugrowthWarning, match=r"x.txt: '1,204' read as 1204: ',' taken as the thousands sep"
    ):
        df = read_export(path)
    assert value_at(df, "B3", 24.0) == 2775.0


def test_undecided_commas_of_a_percentage_are_decimal_commas(tmp_path):
    """A confluence of '1,250' % cannot be 1250 %."""
    path = write_export(tmp_path / "x.txt", ["B2"], [[0, "1,250"], [24, "12,125"]],
                        preamble="Metric: Phase Object Confluence (Percent)\n")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_export(path)
    assert list(df.value) == [1.25, 12.125]


def test_points_that_could_be_thousands_separators_are_named_in_a_warning(tmp_path):
    """IncuCyte writes a decimal point; '1.204' beside '850' may be German Excel's 1204."""
    path = write_export(tmp_path / "x.txt", ["B2", "B3"], [[0, "850", "1.204"]])
    with pytest.warns(IncugrowthWarning, match=r"'1.204' read as 1.204: '.' taken as the decimal"):
        df = read_export(path)
    assert value_at(df, "B3", 0.0) == 1.204


@pytest.mark.parametrize(
    "cells, message",
    [(["12,5", "12.5"], r"column 'B2' has '12,5' and elsewhere the file has '12.5': both ','"),
     (["12,5", "1,234,567"], r"column 'B3' has '1,234,567' .* '12,5': ',' \(comma\) is used "
      "both as the decimal mark and as the thousands separator"),
     (["1,234.5", "1.234,5"], r"column 'B3' has '1.234,5' .* '1,234.5': both"),
     (["1,23,456", "5"], r"column 'B2' has '1,23,456', expected a number")],
)  # fmt: skip
def test_numbers_written_two_ways_are_an_error_naming_the_cell(tmp_path, cells, message):
    path = write_export(tmp_path / "x.txt", ["B2", "B3"], [[0, 1, 2], [6, *cells]])
    with pytest.raises(IncugrowthError, match=rf"x.txt:3: {message}"):
        read_export(path)


def test_korean_dates_and_scientific_notation():
    df = read_export(DATA / "korean_scientific.txt")
    assert value_at(df, "B2", 0.0) == pytest.approx(2.354702e07)
    assert value_at(df, "C5", 12.0) == 2e6
    assert sorted(df.elapsed_h.unique()) == [0.0, 6.0, 12.0]
    assert df.attrs["preamble"]["Vessel Name"] == "플레이트 1"


def test_cp1252_file_from_an_old_windows_pc():
    df = read_export(DATA / "cp1252_area.txt")
    assert (df.metric == "Red Object Area (µm²/Image)").all()
    assert (df.unit == "µm²/Image").all()
    assert df.attrs["preamble"]["Notes"] == "Gerät 2"
    assert value_at(df, "D4", 2.0, field=2) == 1800.0


@pytest.mark.parametrize(
    "encoding, newline, bom",
    [("utf-8", "\r\n", b""), ("utf-8", "\r", b""), ("utf-8", "\n", b"\xef\xbb\xbf"),
     ("utf-16", "\r\n", b"")],
)  # fmt: skip
def test_line_endings_and_encodings_give_the_same_table(tmp_path, encoding, newline, bom):
    reference = read_export(DATA / "zoom_per_image.txt")
    text = (DATA / "zoom_per_image.txt").read_text(encoding="utf-8")
    path = tmp_path / "zoom_per_image.txt"
    path.write_bytes(bom + text.replace("\n", newline).encode(encoding))
    df = read_export(path)
    pd.testing.assert_frame_equal(df, reference)
    assert df.attrs["preamble"] == reference.attrs["preamble"]


def test_us_am_pm_dates_are_ignored_time_comes_from_elapsed():
    df = read_export(DATA / "s3_std_err.txt")
    assert sorted(df.elapsed_h.unique()) == [0.0, 8.0, 16.0, 24.0]


def test_failed_images_become_missing_with_one_warning():
    with pytest.warns(IncugrowthWarning) as record:
        df = read_export(DATA / "failed_images.txt")
    assert len(record) == 1
    message = str(record[0].message)
    assert "failed_images.txt" in message
    assert "3 values" in message
    assert "B2, C3" in message
    assert np.isnan(value_at(df, "B2", 4.0, field=1))  # -4.29497e+08
    assert np.isnan(value_at(df, "C3", 8.0, field=1))  # NA
    assert np.isnan(value_at(df, "C3", 8.0, field=2))  # empty cell
    assert value_at(df, "B2", 4.0, field=2) == 120.0
    assert df.value.isna().sum() == 3
    assert df.attrs["n_failed"] == 3


def test_negative_count_is_failed_but_negative_intensity_is_kept(tmp_path):
    count = write_export(
        tmp_path / "count.txt", ["B2"], [[0, 10], [1, -5], [2, 12]],
        preamble="Metric: Red Object Count (1/Image)",
    )  # fmt: skip
    with pytest.warns(IncugrowthWarning, match="1 value "):
        df = read_export(count)
    assert np.isnan(value_at(df, "B2", 1.0))
    intensity = write_export(
        tmp_path / "intensity.txt", ["B2", "B2 (Std Err Img)"],
        [[0, -3.5, 1], [1, -2.0e8, -4.29e8]],
        preamble="Metric: Red Mean Intensity (RCU)",
    )  # fmt: skip
    with pytest.warns(IncugrowthWarning, match="1 value "):
        df = read_export(intensity)
    assert value_at(df, "B2", 0.0) == -3.5
    assert np.isnan(value_at(df, "B2", 1.0))
    assert np.isnan(value_at(df, "B2", 1.0, column="std_err"))


def test_group_label_columns():
    # ": B2" is well B2 under an empty plate-map label; the other label pools several wells
    with pytest.warns(IncugrowthWarning, match="group-label columns left out.*'M420 IFN gamma"):
        counts = export_to_counts(read_export(DATA / "group_labels.txt"))
    assert list(counts["count"]) == [100.0, 200.0] and set(counts.well) == {"B2"}
    df = read_export(DATA / "group_labels.txt")
    assert df.field.isna().all()
    assert list(df.well.fillna("-")) == ["B2", "B2", "-", "-"]
    gamma_label = "M420 IFN gamma (100 ng/ml)"
    assert list(df.group.fillna("-")) == ["-", "-", gamma_label, gamma_label]
    b2 = df[df.well == "B2"]
    assert list(b2.value) == [100.0, 200.0]
    assert list(b2.std_err) == [3.5, 4.5]
    gamma = df[df.group == gamma_label]
    assert list(gamma.value) == [80.0, 90.0]
    assert list(gamma.std_err) == [2.0, 2.5]
    only_groups = df[df.well.isna()]
    with pytest.raises(IncugrowthError, match="group_labels.txt: .*only group-label columns"):
        export_to_counts(only_groups)


def test_colon_well_columns_of_an_export_without_plate_map():
    # SX5 layout: each well as "<plate-map label>: <well>", the label empty, then "(Std Err)"
    df = read_export(DATA / "sx5_colon_wells.txt")
    assert list(df.well.unique()) == ["B2", "B3", "B10"]
    assert df.group.isna().all() and df.field.isna().all()
    assert sorted(df.elapsed_h.unique()) == [0.0, 2.0, 6.0]
    assert value_at(df, "B10", 2.0) == 95.0
    assert value_at(df, "B2", 2.0, column="std_err") == 2.25
    counts = export_to_counts(df)
    assert list(counts.well) == ["B2"] * 3 + ["B3"] * 3 + ["B10"] * 3
    assert list(counts["count"][:3]) == [100.0, 104.0, 121.0]


@pytest.mark.parametrize(
    "header, well, field, label",
    [("M420 IFN gamma 100 ng/ml: C4", "C4", None, "M420 IFN gamma 100 ng/ml"),
     (": C04, Image 2", "C4", 2.0, None), ("HT1080: C4 (Std Err Img)", "C4", None, "HT1080"),
     ("HeLa (5) 10K / well Dox 1 µg/mL (B2), Image 1", "B2", 1.0,
      "HeLa (5) 10K / well Dox 1 µg/mL"),
     ("M420 IFN gamma (100 ng/ml) (C04)", "C4", None, "M420 IFN gamma (100 ng/ml)"),
     ("HT1080 (C4) (Std Err Img)", "C4", None, "HT1080"), ("(C4), Image 3", "C4", 3.0, None)],
)  # fmt: skip
def test_label_before_a_colon_or_a_well_in_parentheses_names_a_well(
    tmp_path, header, well, field, label
):
    path = write_export(tmp_path / "label.txt", [header], [[0, 7]])
    df = read_export(path)
    assert df.well.tolist() == [well]
    assert df.group.tolist() == [label] or (label is None and df.group.isna().all())
    assert df.field.tolist()[0] == field or (field is None and np.isnan(df.field.tolist()[0]))
    kind = "std_err" if "Std Err" in header else "value"
    assert df[kind].tolist() == [7.0]


@pytest.mark.parametrize(
    "header", ["HEK 293 (LNP dynamic)", "M420 IFN gamma (100 ng/ml)", "M420 (B2, B3)",
               "M420 (Z9)", "M420 (2)"],
)  # fmt: skip
def test_a_label_ending_in_other_parentheses_stays_a_group(tmp_path, header):
    path = write_export(tmp_path / "label.txt", [header, "M420 (Std Err Img)"], [[0, 7, 1]])
    df = read_export(path)
    assert df.well.isna().all() and df.group.tolist() == [header, "M420"]
    assert df.value.fillna(-1).tolist() == [7.0, -1] and df.std_err.fillna(-1).tolist() == [-1, 1.0]


def test_labelled_well_columns_with_the_well_in_parentheses():
    # newer IncuCyte software: "<plate-map label> (<well>), Image <n>", one preamble line
    df = read_export(DATA / "label_well_image.txt")
    assert list(df.well.unique()) == ["B2", "C2"]
    assert sorted(df.field.unique()) == [1.0, 2.0]
    assert set(df[df.well == "B2"].group) == {"HeLa (5) 10K / well Dox 1 µg/mL"}
    assert set(df[df.well == "C2"].group) == {"HeLa (5) 10K / well DMSO 0.1 %"}
    assert value_at(df, "B2", 4.0, field=1) == 140.0
    assert value_at(df, "B2", 8.0, field=2) == 157.0
    assert value_at(df, "C2", 0.0, field=1) == 130.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "group-label columns left out"
        counts = export_to_counts(df, metric="label_well_image")
    assert list(counts.well) == ["B2"] * 6 + ["C2"] * 6
    b2_image_1 = counts[(counts.well == "B2") & (counts.field == 1)]
    assert list(b2_image_1["count"]) == [120.0, 140.0, 161.0]
    c2_image_2 = counts[(counts.well == "C2") & (counts.field == 2)]
    assert list(c2_image_2["count"]) == [127.0, 149.0, 168.0]


def test_a_well_written_with_two_labels_is_a_duplicate(tmp_path):
    path = write_export(tmp_path / "twice.txt", ["HeLa: B2", "HeLa (B2)"], [[0, 7, 8]])
    with pytest.raises(IncugrowthError, match="twice.txt:1: column 'HeLa \\(B2\\)' appears"):
        read_export(path)
    first = write_export(tmp_path / "plain.txt", ["B2"], [[0, 7]], "Metric: Count (1/Image)")
    second = write_export(
        tmp_path / "label.txt", ["HeLa (B2)"], [[0, 8]], "Metric: Count (1/Image)"
    )
    with pytest.raises(IncugrowthError, match="for B2 at 0 h is also in"):
        read_exports([first, second])


def test_label_with_several_wells_stays_a_group(tmp_path):
    path = write_export(tmp_path / "pooled.txt", ["M420: B2, B3"], [[0, 7]])
    df = read_export(path)
    assert df.well.isna().all() and df.group.tolist() == ["M420: B2, B3"]


def test_wells_and_group_labels_in_one_file_stay_apart(tmp_path):
    path = write_export(tmp_path / "mixed.txt", ["B2", "M420 untreated", "B2 (Std Err Img)"],
                        [[0, 10, 20, 1.5]])  # fmt: skip
    df = read_export(path)
    assert df.well.tolist()[0] == "B2" and pd.isna(df.well.tolist()[1])
    assert pd.isna(df.group.tolist()[0]) and df.group.tolist()[1] == "M420 untreated"
    assert df.std_err.tolist()[0] == 1.5 and np.isnan(df.std_err.tolist()[1])


def test_384_well_columns():
    df = read_export(DATA / "plate_384.txt")
    assert list(df.well.unique()) == ["A1", "I13", "P24"]
    assert value_at(df, "P24", 2.0) == 31.0


def test_rows_come_in_plate_order(tmp_path):
    path = write_export(tmp_path / "order.txt", ["B10", "B2, Image 2", "B2, Image 1", "A3"],
                        [[0, 1, 2, 3, 4]])  # fmt: skip
    df = read_export(path)
    assert list(zip(df.well, df.field.fillna(0))) == [
        ("A3", 0), ("B2", 1), ("B2", 2), ("B10", 0)
    ]  # fmt: skip
    assert list(df.value) == [4.0, 3.0, 2.0, 1.0]


def test_trailing_tabs_and_blank_lines_are_tolerated(tmp_path):
    path = tmp_path / "trailing.txt"
    path.write_text(
        "Metric: Red Object Count (1/Image)\n"
        "Date Time\tElapsed\tB2\t\n1/1/2026 9:00\t0\t5\t\n\n1/1/2026 10:00\t1\t6\t\n\n\n"
    )
    df = read_export(path)
    assert list(df.value) == [5.0, 6.0]


# --------------------------------------------------------------------------------------
# Bad input: IncugrowthError naming file and line
# --------------------------------------------------------------------------------------


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(IncugrowthError, match="nope.txt: file not found"):
        read_export(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("  \n\n")
    with pytest.raises(IncugrowthError, match="empty.txt: the file is empty"):
        read_export(tmp_path / "empty.txt")


def test_no_header_says_what_it_must_look_like(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("Metric: x\nTime\tB2\n0\t1\n")
    with pytest.raises(
        IncugrowthError, match=r"plain.txt: no table header: .*'Date Time<TAB>Elapsed<TAB>'"
    ):
        read_export(path)
    csv = tmp_path / "excel.csv"
    csv.write_text("Date Time,Elapsed,B2\n1/1/2026,0,1\n")
    with pytest.raises(IncugrowthError, match="comma-separated"):
        read_export(csv)


def test_non_numeric_cell_names_line_and_column(tmp_path):
    path = tmp_path / "export.txt"
    preamble = "\n".join(f"Key{i}: v" for i in range(11)) + "\n"  # header on line 12
    rows = [[t, 10 + t, 20 + t] for t in range(3)]
    rows[1][2] = "abc"  # the second data row is line 14
    write_export(path, ["B3, Image 1", "B3, Image 2"], rows, preamble=preamble.rstrip("\n"))
    with pytest.raises(IncugrowthError) as info:
        read_export(path)
    assert str(info.value) == (f"{path}:14: column 'B3, Image 2' has 'abc', expected a number")


def test_truncated_row_names_the_line(tmp_path):
    path = tmp_path / "cut.txt"
    path.write_text("Date Time\tElapsed\tB2\tB3\n1/1\t0\t1\t2\n1/1\t1\t3\n")
    with pytest.raises(IncugrowthError, match=r"cut.txt:3: this row has 3 tab-separated cells "
                       r"but the header has 4"):  # fmt: skip
        read_export(path)
    path.write_text("Date Time\tElapsed\tB2\n1/1\t0\t1\t2\n")
    with pytest.raises(IncugrowthError, match=r"cut.txt:2: .*extra cells"):
        read_export(path)


@pytest.mark.parametrize(
    "header, message",
    [(["B2", "B3", "B2"], "column 'B2' appears twice"),
     (["B2", "B02"], r"column 'B02' appears twice \(as 'B2' and 'B02'\)"),
     (["", "B2"], "column 3 has no name")],
)  # fmt: skip
def test_bad_columns(tmp_path, header, message):
    path = write_export(tmp_path / "cols.txt", header, [[0] + [1] * len(header)])
    with pytest.raises(IncugrowthError, match=rf"cols.txt:1: {message}"):
        read_export(path)


@pytest.mark.parametrize(
    "times, message",
    [([0, 4, 4], "cols.txt:4: Elapsed repeats 4 h after 4 h"),
     ([0, 8, 4], "cols.txt:4: Elapsed goes back to 4 h after 8 h"),
     ([0, "", 4], "cols.txt:3: Elapsed is empty")],
)  # fmt: skip
def test_elapsed_must_increase(tmp_path, times, message):
    path = write_export(tmp_path / "cols.txt", ["B2"], [[t, 1] for t in times])
    with pytest.raises(IncugrowthError, match=message):
        read_export(path)


def test_header_without_rows_or_columns(tmp_path):
    path = tmp_path / "bare.txt"
    path.write_text("Metric: x\nDate Time\tElapsed\tB2\n")
    with pytest.raises(IncugrowthError, match="bare.txt:2: no data rows"):
        read_export(path)
    path.write_text("Date Time\tElapsed\n1/1\t0\n")
    with pytest.raises(IncugrowthError, match="bare.txt:1: the header has no data columns"):
        read_export(path)


# --------------------------------------------------------------------------------------
# Several exports, and counts
# --------------------------------------------------------------------------------------


def test_read_exports_concatenates_and_rejects_the_same_metric_twice(tmp_path):
    with pytest.warns(IncugrowthWarning):
        both = read_exports(
            [DATA / "plate_count_per_well.txt", DATA / "plate_confluence_per_image.txt"]
        )
    assert len(both) == 4 + 8
    assert set(both.attrs["preamble"]) == {
        "plate_count_per_well.txt", "plate_confluence_per_image.txt"
    }  # fmt: skip
    copy = tmp_path / "again.txt"
    copy.write_bytes((DATA / "one_line_preamble.txt").read_bytes())
    with pytest.raises(IncugrowthError) as info:
        read_exports([DATA / "one_line_preamble.txt", copy])
    message = str(info.value)
    assert "one_line_preamble.txt" in message and "again.txt" in message
    assert "'Phase Object Confluence (Percent)' for B2 at 0 h" in message


def test_counts_from_per_image_count():
    counts = export_to_counts(read_export(DATA / "zoom_per_image.txt"))
    assert list(counts.columns) == [
        "well", "field", "elapsed_h", "count", "metric", "unit", "qc_flag"
    ]  # fmt: skip
    assert len(counts) == 30
    row = counts[(counts.well == "B2") & (counts.field == 3) & (counts.elapsed_h == 24)]
    assert row["count"].item() == 123.0
    assert (counts.qc_flag == "").all()


def test_counts_flag_failed_images():
    with pytest.warns(IncugrowthWarning):
        counts = export_to_counts(read_export(DATA / "failed_images.txt"))
    failed = counts[counts.qc_flag == "failed_image"]
    assert list(zip(failed.well, failed.field, failed.elapsed_h)) == [
        ("B2", 1.0, 4.0), ("C3", 1.0, 8.0), ("C3", 2.0, 8.0)
    ]  # fmt: skip
    assert failed["count"].isna().all()


def test_count_per_well_with_confluence_per_image_uses_the_well_mean():
    with pytest.warns(IncugrowthWarning):
        both = read_exports(
            [DATA / "plate_count_per_well.txt", DATA / "plate_confluence_per_image.txt"]
        )
    counts = export_to_counts(both)
    assert list(counts.confluence) == [15.0, 20.0, 35.0, 40.0]
    assert list(counts["count"].fillna(-1)) == [300.0, 600.0, 330.0, -1]
    assert list(counts.qc_flag) == ["", "", "", "failed_image"]


def _export(rows):
    df = pd.DataFrame(rows, columns=["well", "field", "elapsed_h", "metric", "value"])
    df["group"] = np.nan
    df["unit"] = ""
    df["std_dev"] = df["std_err"] = np.nan
    df["source"] = "x.txt"
    return df


def test_confluence_per_image_matched_to_its_image_and_per_well_broadcast():
    count, conf = "Red Object Count (1/Image)", "Phase Object Confluence (Percent)"
    per_image = _export(
        [("B2", 1.0, 0.0, count, 10), ("B2", 2.0, 0.0, count, 20),
         ("B2", 1.0, 0.0, conf, 30), ("B2", 2.0, 0.0, conf, 50)]
    )  # fmt: skip
    assert list(export_to_counts(per_image).confluence) == [30.0, 50.0]
    per_well = _export(
        [("B2", 1.0, 0.0, count, 10), ("B2", 2.0, 0.0, count, 20),
         ("B2", np.nan, 0.0, conf, 44)]
    )  # fmt: skip
    assert list(export_to_counts(per_well).confluence) == [44.0, 44.0]
    assert "confluence" not in export_to_counts(per_well, confluence=False).columns


def test_choosing_the_count_metric():
    both = _export(
        [("B2", np.nan, 0.0, "Red Object Count (1/Image)", 10),
         ("B2", np.nan, 0.0, "Green Object Count (1/Image)", 3)]
    )  # fmt: skip
    with pytest.raises(IncugrowthError, match="x.txt: several count metrics.*'Red Object Count"
                       r" \(1/Image\)', 'Green Object Count \(1/Image\)'"):  # fmt: skip
        export_to_counts(both)
    green = export_to_counts(both, metric="Green Object Count (1/Image)")
    assert list(green["count"]) == [3.0]
    with pytest.raises(IncugrowthError, match="'Blue' is not in the export"):
        export_to_counts(both, metric="Blue")
    confluence_only = _export([("B2", np.nan, 0.0, "Phase Object Confluence (Percent)", 10)])
    with pytest.raises(IncugrowthError, match="no count metric") as raised:
        export_to_counts(confluence_only)
    # the command-line option, quoted as it must be typed
    assert 'give --metric "Phase Object Confluence (Percent)"' in str(raised.value)
    with pytest.raises(IncugrowthError, match="choose one with --metric"):
        export_to_counts(both)


def test_group_label_rows_next_to_wells_are_left_out_with_a_warning():
    export = _export([("B2", np.nan, 0.0, "Red Object Count (1/Image)", 10)])
    group = export.assign(well=np.nan, group="M420 untreated", value=5.0)
    with pytest.warns(IncugrowthWarning, match="group-label columns left out.*'M420 untreated'"):
        counts = export_to_counts(pd.concat([export, group], ignore_index=True))
    assert list(counts.well) == ["B2"]


def test_large_384_well_export_reads_fast(tmp_path):
    wells = [f"{chr(65 + r)}{c}" for r in range(16) for c in range(1, 25)]
    header = [f"{w}, Image {i}" for w in wells for i in range(1, 5)]
    rng = np.random.default_rng(0)
    values = rng.integers(0, 3000, size=(200, len(header)))
    lines = ["Vessel Name: big", "Metric: Red Object Count (1/Image)", "Analysis: x", "",
             "Date Time\tElapsed\t" + "\t".join(header)]  # fmt: skip
    lines += [f"1/1/2026\t{t * 0.5:g}\t" + "\t".join(map(str, row)) for t, row in enumerate(values)]
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    df = read_export(path)
    seconds = time.perf_counter() - start
    assert len(df) == 384 * 4 * 200
    assert value_at(df, "P24", 99.5, field=4) == values[199, -1]
    assert value_at(df, "A1", 0.0, field=1) == values[0, 0]
    assert seconds < 2.0, f"reading took {seconds:.2f} s"


def test_no_stray_warnings_on_clean_files():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in sorted(DATA.glob("*.txt")):
            if path.name in {"failed_images.txt", "plate_count_per_well.txt", "plate_layout.txt"}:
                continue
            read_export(path)


# --------------------------------------------------------------------------------------
# Plate layout ("Time Stamp:" blocks of plate grids)
# --------------------------------------------------------------------------------------


def test_plate_layout_reads_as_the_equivalent_table(tmp_path):
    with pytest.warns(IncugrowthWarning, match="1 value from failed images .* in B3"):
        df = read_export(DATA / "plate_layout.txt")
    assert df.attrs["preamble"]["Vessel Name"] == "IFN plate 1"
    table = write_export(
        tmp_path / "plate_layout.txt",
        ["B2", "B3", "C2", "B2 (Std Err Img)", "B3 (Std Err Img)", "C2 (Std Err Img)"],
        [[0, 100, 120, 90, 2.5, 3, 1.5], [12, 150, -429496729.6, 131, 4, 2, 1],
         [24, 210, 180, 175, 5, 6, 0.5]],
        preamble="Metric: Red Object Count (1/Image)",
    )  # fmt: skip
    with pytest.warns(IncugrowthWarning):
        expected = read_export(table)
    pd.testing.assert_frame_equal(df, expected)
    assert list(df.well.unique()) == ["B2", "B3", "C2"]  # empty grid cells are unused wells


def _plate_block(elapsed, label, values):
    lines = [f"Time Stamp:\t1/1/2026 9:00\tElapsed:\t{elapsed}\thours", ""]
    lines += [label] if label else []
    lines.append("\t" + "\t".join(str(c) for c in range(1, 13)))
    for row in "ABCDEFGH":
        lines.append(row + "\t" + "\t".join(str(values.get(f"{row}{c}", "")) for c in range(1, 13)))
    return lines + [""]


def test_plate_layout_with_one_grid_per_image(tmp_path):
    lines = ["Metric: Phase Object Confluence (Percent)", ""]
    for t, base in [(0, 10), (4, 20)]:
        lines += _plate_block(t, "Image 1", {"D4": base})
        lines += _plate_block(t, "Image 2", {"D4": base + 1})[2:]
    path = tmp_path / "images.txt"
    path.write_text("\n".join(lines))
    df = read_export(path)
    assert list(zip(df.field, df.elapsed_h, df.value)) == [
        (1.0, 0.0, 10.0), (1.0, 4.0, 20.0), (2.0, 0.0, 11.0), (2.0, 4.0, 21.0)
    ]  # fmt: skip


def test_plate_layout_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("\n".join(["Metric: x", *_plate_block(0, "Mean Img", {"B2": 1})]))
    with pytest.raises(IncugrowthError, match=r"bad.txt:4: unknown grid label 'Mean Img'"):
        read_export(path)
    path.write_text("Metric: x\nTime Stamp:\t1/1/2026 9:00\n\t1\t2\nA\t1\t2\n")
    with pytest.raises(IncugrowthError, match=r"bad.txt:2: a 'Time Stamp:' line without"):
        read_export(path)


def test_a_well_twice_says_what_to_fix(tmp_path):
    path = write_export(tmp_path / "twice.txt", ["B2", "B3", "B2"], [[0, 1, 2, 3]])
    with pytest.raises(IncugrowthError) as info:
        read_export(path)
    assert str(info.value) == (
        f"{path}:1: column 'B2' appears twice: each well (image, error column) may appear once; "
        "export each plate's metric once, not appended to another export"
    )
