"""Fuzzing the file readers: any input either parses or raises IncugrowthError, nothing else."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incugrowth.errors import IncugrowthError, IncugrowthWarning
from incugrowth.exports import export_to_counts, read_export
from incugrowth.platemap import read_plate_map

DATA = Path(__file__).parent / "data"
EXPORT = (DATA / "exports" / "s3_std_err.txt").read_bytes()
PER_IMAGE = (DATA / "exports" / "failed_images.txt").read_bytes()
PLATE_LAYOUT = (DATA / "exports" / "plate_layout.txt").read_bytes()
LONG_MAP = (DATA / "platemaps" / "long.csv").read_bytes()
GRID_MAP = (DATA / "platemaps" / "grid_96.csv").read_bytes()
XML_MAP = (DATA / "platemaps" / "plate_384.PlateMap").read_bytes()[:4000]

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Pieces that steer random text towards the interesting parts of the parsers.
TOKENS = st.sampled_from(
    ["Date Time", "Elapsed", "\t", "\n", "\r\n", "Metric: ", "B2", "B2, Image 1",
     " (Std Err Img)", " (Std Dev Well)", ": B2", "P24", "Q1", "-4.29497e+08", "NA", "12,5",
     "2.354702E+07", "1", "0", "abc", ",", ";", '"', "well", "cell_line", "treatment", "dose",
     ",1,2,3,4,5,6,7,8,9,10,11,12", "A", "H", "<well row=\"1\" col=\"1\">", "</well>",
     "<wellItem type=\"Compound\" concentration=\"x\">", "µm²", "\ufeff", "Count", "Confluence",
     "Time Stamp:\t", "Elapsed:\t", "\t1\t2\t3\n", "Image 1\n", "Std Err Img\n", '"1,234"',
     "1.234,5", "1 234", "1\u202f234", "1,234,567", " (Std Error)", "<referenceItem "]
)  # fmt: skip
TEXT = st.lists(st.one_of(TOKENS, st.text(max_size=8)), max_size=40).map("".join)


def _call(reader, data: bytes, suffix: str):
    """Write ``data`` to a file and read it: returns the table, or None on IncugrowthError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IncugrowthWarning)
            try:
                return reader(path)
            except IncugrowthError as exc:
                text = str(exc)
                assert "\n" not in text, text
                assert str(path) in text, text
                return None


def _check_export(data: bytes):
    df = _call(read_export, data, ".txt")
    if df is not None:
        assert isinstance(df, pd.DataFrame)
        assert df["elapsed_h"].notna().all()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IncugrowthWarning)
            try:
                export_to_counts(df)
            except IncugrowthError:
                pass


def _check_plate_map(data: bytes, suffix: str = ".csv"):
    df = _call(read_plate_map, data, suffix)
    if df is not None:
        assert df["well"].is_unique
        assert df.attrs["plate_size"] in (96, 384)


@FUZZ
@given(st.binary(max_size=600))
def test_read_export_arbitrary_bytes(data):
    _check_export(data)


@FUZZ
@given(TEXT)
def test_read_export_arbitrary_text(text):
    _check_export(text.encode("utf-8"))
    _check_export(("Date Time\tElapsed\t" + text).encode("utf-8"))


def _mutate(base: bytes, edits) -> bytes:
    data = bytearray(base)
    for kind, position, payload in edits:
        i = position % (len(data) + 1)
        if kind == "drop":
            del data[i : i + 1 + len(payload) % 5]
        elif kind == "duplicate":
            data[i:i] = data[i : i + 1 + len(payload) % 7]
        else:
            data[i:i] = payload
    return bytes(data)


EDITS = st.lists(
    st.tuples(
        st.sampled_from(["drop", "duplicate", "insert"]),
        st.integers(min_value=0, max_value=10_000),
        st.sampled_from([b"\t", b"\t\t", b"\n", b"\r", b",", b".", b"-", b"E", b"NA", b"x",
                         b"\xff", b"\xb5", b"Image 2", b" (Std Err)"]),
    ),
    min_size=1,
    max_size=6,
)  # fmt: skip


@FUZZ
@given(st.sampled_from([EXPORT, PER_IMAGE, PLATE_LAYOUT]), EDITS)
def test_read_export_mutated_valid_files(base, edits):
    _check_export(_mutate(base, edits))


@FUZZ
@given(st.binary(max_size=600), st.sampled_from([".csv", ".PlateMap"]))
def test_read_plate_map_arbitrary_bytes(data, suffix):
    _check_plate_map(data, suffix)


@FUZZ
@given(TEXT)
def test_read_plate_map_arbitrary_text(text):
    _check_plate_map(text.encode("utf-8"))
    _check_plate_map(("well,cell_line,treatment,dose\n" + text).encode("utf-8"))


@FUZZ
@given(st.sampled_from([LONG_MAP, GRID_MAP, XML_MAP]), EDITS)
def test_read_plate_map_mutated_valid_files(base, edits):
    _check_plate_map(_mutate(base, edits), ".PlateMap" if base is XML_MAP else ".csv")


# Excel's "#,##0.00" in four locales: (thousands separator, decimal mark)
LOCALES = [(",", "."), (".", ","), ("\u202f", ","), ("'", ".")]


def _excel_number(cents: int, group: str, decimal: str) -> str:
    whole, frac = divmod(abs(cents), 100)
    text = f"{whole:,}".replace(",", group) + f"{decimal}{frac:02d}"
    return ("-" if cents < 0 else "") + text


@FUZZ
@given(
    st.lists(st.integers(min_value=0, max_value=10**11), min_size=1, max_size=12),
    st.sampled_from(LOCALES),
    st.booleans(),
)
def test_numbers_with_thousands_separators_read_back_in_every_locale(cents, locale, quoted):
    """An export re-saved by Excel with thousands separators reads back to its values."""
    cells = [_excel_number(c, *locale) for c in cents]
    if quoted:
        cells = [f'"{c}"' for c in cells]
    header = "\t".join(f"B{i}" for i in range(2, 2 + len(cells)))
    text = "Metric: Red Object Area (um2/Image)\nDate Time\tElapsed\t" + header + "\n"
    text += "1/1/2026\t0\t" + "\t".join(cells) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.txt"
        path.write_text(text, encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            df = read_export(path)
    assert df["value"].tolist() == [c / 100 for c in cents]
