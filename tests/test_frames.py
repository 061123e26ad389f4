"""Frame finder and frame reader: IncuCyte file names, channels, damaged files."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from incugrowth.errors import IncugrowthError, IncugrowthWarning
from incugrowth.frames import find_frames, parse_frame_name, read_frame, select_channel


def _tif(path: Path, data=None, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.zeros((8, 10), np.uint16) if data is None else data
    tifffile.imwrite(path, data, **kwargs)
    return path


@pytest.mark.parametrize(
    "name, well, field, hours, prefix",
    [
        ("VID1630_C4_1_01d23h34m.tif", "C4", 1, 47 + 34 / 60, "VID1630"),
        ("my_exp_2_B03_12_00d00h00m.TIFF", "B3", 12, 0.0, "my_exp_2"),
        ("plate_A1_B2_2_10d04h30m.tiff", "B2", 2, 244.5, "plate_A1"),
    ],
)
def test_parse_elapsed_names(name, well, field, hours, prefix):
    d = parse_frame_name(name)
    assert (d["form"], d["well"], d["field"], d["prefix"]) == ("elapsed", well, field, prefix)
    assert d["elapsed_h"] == pytest.approx(hours)


def test_parse_channel_words_and_rejects():
    assert parse_frame_name("VID1_B3_1_Red_00d04h00m.tif")["channel"] == "red"
    assert parse_frame_name("VID1_Phase_B3_1_00d04h00m.tif")["channel"] == "phase"
    assert parse_frame_name("VID1_B3_1_00d04h00m.tif")["channel"] is None
    for bad in ["VID1_B3_1_00d25h00m.tif", "VID1_Z3_1_00d04h00m.tif", "B3_1.tif", "x.png"]:
        assert parse_frame_name(bad) is None, bad


def test_one_letter_channel_codes_and_protein_names():
    """R/G/P just before the well (as in 2101001_G_A1_1_04d00h00m.tif) and GFP/RFP/mCherry
    as channel words; a one-letter part elsewhere in the prefix is not a channel."""
    for code, channel in [("R", "red"), ("G", "green"), ("P", "phase"), ("p", "phase")]:
        assert parse_frame_name(f"2101001_{code}_A1_1_04d00h00m.tif")["channel"] == channel
    assert parse_frame_name("R_A1_1_04d00h00m.tif")["channel"] is None  # the whole prefix
    assert parse_frame_name("exp_G_7_A1_1_04d00h00m.tif")["channel"] is None
    assert parse_frame_name("VID1_GFP_B3_1_00d04h00m.tif")["channel"] == "green"
    assert parse_frame_name("VID1_B3_1_mCherry_00d04h00m.tif")["channel"] == "red"


def test_frames_of_one_letter_channels_and_gfp_folders(tmp_path):
    """The three channels of one well, field and time told apart by R/G/P in their names are
    three frames, not duplicates; the red one is counted. A GFP/ folder is green."""
    for code in "RGP":
        for t in ("00d00h00m", "04d00h00m"):
            _tif(tmp_path / "idr" / "A1" / "field_1" / f"2101001_{code}_A1_1_{t}.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frames = find_frames(tmp_path / "idr")
    assert sorted(frames["channel"].value_counts().items()) == [
        ("green", 2), ("phase", 2), ("red", 2)
    ]  # fmt: skip
    red = select_channel(frames)
    assert all("_R_" in Path(p).name for p in red["path"])
    _tif(tmp_path / "gfp" / "GFP" / "VID1_B2_1_00d00h00m.tif")
    _tif(tmp_path / "gfp" / "Phase" / "VID1_B2_1_00d00h00m.tif")
    assert sorted(find_frames(tmp_path / "gfp")["channel"]) == ["green", "phase"]


def test_duplicates_with_different_prefixes_say_to_separate_them(tmp_path):
    _tif(tmp_path / "plateA_B2_1_00d00h00m.tif")
    _tif(tmp_path / "plateB_B2_1_00d00h00m.tif")
    with pytest.warns(IncugrowthWarning, match="names start plateA, plateB: if these are"):
        frames = find_frames(tmp_path)
    assert len(frames) == 1


def test_find_frames_elapsed_layout_sorted_and_typed(tmp_path):
    names = [
        "red/VID1_B10_1_00d00h00m.tif",
        "red/VID1_B2_1_00d04h00m.tif",
        "red/VID1_B2_1_00d00h00m.tif",
        "red/VID1_B2_2_00d00h00m.tif",
        "Phase/VID1_B2_1_00d00h00m.tif",
    ]
    for name in names:
        _tif(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a frame")
    df = find_frames(tmp_path)
    assert df.columns.tolist()[:5] == ["path", "well", "field", "elapsed_h", "channel"]
    assert {"prefix", "mtime", "size"} <= set(df.columns)
    rows = list(zip(df["channel"], df["well"], df["field"], df["elapsed_h"]))
    assert rows == [
        ("phase", "B2", 1, 0.0),
        ("red", "B2", 1, 0.0),
        ("red", "B2", 1, 4.0),
        ("red", "B2", 2, 0.0),
        ("red", "B10", 1, 0.0),
    ]
    assert df["field"].dtype == np.int64 and df["elapsed_h"].dtype == np.float64
    assert df["size"].gt(0).all() and df.attrs["unparsed"] == []
    only_red = find_frames(tmp_path, channel="RED")
    assert set(only_red["channel"]) == {"red"} and len(only_red) == 4


def test_find_frames_absolute_times_from_earliest(tmp_path):
    for name in [
        "exp_B3_1_2016y03m14d_22h26m.tif",
        "exp_B3_1_2016y03m15d_02h26m.tif",
        "exp_B3_1_2016y03m17d_22h26m.tif",
    ]:
        _tif(tmp_path / "green" / name)
    df = find_frames(tmp_path)
    assert df["elapsed_h"].tolist() == [0.0, 4.0, 72.0]
    assert set(df["channel"]) == {"green"}


def test_wells_named_minutes_apart_within_a_scan_share_its_time(tmp_path):
    """Clock-time names of one scan may differ by the minutes the scan took: each frame takes
    its scan's first time, so all wells of a scan line up (0 h and 4 h here)."""
    for well, minute in [("B2", 26), ("B3", 27), ("B4", 29)]:
        for day_hour in ["14d_22h", "15d_02h"]:
            _tif(tmp_path / "red" / f"exp_{well}_1_2016y03m{day_hour}{minute}m.tif")
    df = find_frames(tmp_path)
    assert df["elapsed_h"].tolist() == [0.0, 4.0] * 3


def test_find_frames_raw_archive(tmp_path):
    scan = tmp_path / "EssenFiles" / "ScanData"
    for folder in ["1603/14/1026", "1603/14/1426", "1603/15/1026"]:
        for code in ["Ph", "C1", "C2"]:
            _tif(scan / folder / "700" / f"B3-1-{code}.tif")
    df = find_frames(tmp_path)
    assert sorted(set(df["channel"])) == ["green", "phase", "red"]
    red = df[df["channel"] == "red"]
    assert red["elapsed_h"].tolist() == [0.0, 4.0, 24.0]
    assert set(red["prefix"]) == {"700"} and set(red["well"]) == {"B3"}


def test_unparsed_names_are_reported_not_dropped(tmp_path):
    _tif(tmp_path / "VID1_B3_1_00d00h00m.tif")
    _tif(tmp_path / "snapshot_final.tif")
    _tif(tmp_path / "VID1_B3_x_00d00h00m.tif")
    with pytest.warns(IncugrowthWarning, match=r"2 TIFF file\(s\) not named as frames") as rec:
        df = find_frames(tmp_path)
    assert "snapshot_final.tif" in str(rec[0].message)
    assert len(df) == 1
    assert sorted(Path(p).name for p in df.attrs["unparsed"]) == [
        "VID1_B3_x_00d00h00m.tif",
        "snapshot_final.tif",
    ]


def test_duplicate_frames_warned_and_first_path_kept(tmp_path):
    a = _tif(tmp_path / "a" / "red" / "VID1_B3_1_00d04h00m.tif")
    b = _tif(tmp_path / "b" / "red" / "VID1_B3_1_00d04h00m.TIF")
    with pytest.warns(IncugrowthWarning, match="1 duplicate frame"):
        df = find_frames(tmp_path)
    assert df["path"].tolist() == [str(a)]
    assert df.attrs["duplicates"] == [str(b)]


def test_missing_and_empty_folders_name_the_folder_and_pattern(tmp_path):
    with pytest.raises(IncugrowthError, match=r"nothere: folder not found.*_<Well>_<Field>_"):
        find_frames(tmp_path / "nothere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IncugrowthError, match=r"empty: no TIFF frames found.*<DD>d<HH>h<MM>m"):
        find_frames(tmp_path / "empty")
    _tif(tmp_path / "odd" / "picture.tif")
    with pytest.raises(IncugrowthError, match="no file name is a frame name"):
        find_frames(tmp_path / "odd")
    with pytest.raises(IncugrowthError, match="no frames of channel 'green'; available.*red"):
        _tif(tmp_path / "one" / "red" / "V_B3_1_00d00h00m.tif")
        find_frames(tmp_path / "one", channel="green")


def test_select_channel_prefers_red_then_the_only_one(tmp_path):
    for ch in ["red", "phase"]:
        _tif(tmp_path / ch / "V_B3_1_00d00h00m.tif")
    frames = find_frames(tmp_path)
    assert select_channel(frames)["channel"].unique().tolist() == ["red"]
    assert select_channel(frames, "phase")["channel"].unique().tolist() == ["phase"]
    with pytest.raises(IncugrowthError, match="no frames of channel 'nir'; available.*phase, red"):
        select_channel(frames, "nir")
    _tif(tmp_path / "two" / "green" / "V_B3_1_00d00h00m.tif")
    _tif(tmp_path / "two" / "phase" / "V_B3_1_00d00h00m.tif")
    with pytest.raises(IncugrowthError, match="several channels.*green, phase.*--channel"):
        select_channel(find_frames(tmp_path / "two"))
    single = find_frames(tmp_path / "two", channel="green")
    assert select_channel(single).attrs["channel"] == "green"


@pytest.mark.parametrize("dtype", [np.uint16, np.uint8])
def test_read_frame_lzw_keeps_dtype(tmp_path, dtype):
    data = (np.arange(40 * 30) % 250).astype(dtype).reshape(40, 30)
    p = _tif(tmp_path / "V_B3_1_00d00h00m.tif", data, compression="lzw", predictor=True)
    out = read_frame(p)
    assert out.dtype == dtype and out.shape == (40, 30)
    np.testing.assert_array_equal(out, data)


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"compression": "lzw"},
        {"compression": "lzw", "predictor": True},
        {"compression": "zlib", "tile": (32, 48)},
        {"compression": "packbits"},
    ],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_read_frame_gives_the_stored_values_in_every_layout(tmp_path, dtype, options, byteorder):
    if dtype == np.float32 and options.get("predictor"):
        options = {**options, "predictor": False}
    rng = np.random.default_rng(2)
    data = (rng.random((70, 97)) * (250 if dtype == np.uint8 else 60000)).astype(dtype)
    p = tmp_path / "V_B3_1_00d00h00m.tif"
    tifffile.imwrite(p, data, byteorder=byteorder, **options)
    out = read_frame(p)
    assert out.dtype == dtype and out.shape == data.shape
    np.testing.assert_array_equal(out, data)


def test_read_frame_is_quiet_about_private_tags_and_reports_damaged_strips(tmp_path, capfd):
    data = (np.random.default_rng(3).random((120, 160)) * 60000).astype(np.uint16)
    p = tmp_path / "V_B3_1_00d00h00m.tif"
    tifffile.imwrite(p, data, compression="lzw", extratags=[(65000, "s", 0, "instrument", True)])
    np.testing.assert_array_equal(read_frame(p), data)
    assert capfd.readouterr().err == ""  # libtiff's notes on unknown tags are not shown
    damaged = tmp_path / "V_B4_1_00d00h00m.tif"
    damaged.write_bytes(p.read_bytes()[: p.stat().st_size // 2])  # tags kept, strips cut
    with pytest.raises(IncugrowthError, match=r"V_B4_1_00d00h00m\.tif: truncated or damaged"):
        read_frame(damaged)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("layout", ["flagged", "sub_ifds", "unflagged"])
def test_read_frame_of_a_pyramid_gives_the_full_resolution_image(tmp_path, layout):
    """A raw-archive frame stored with its reduced-resolution copies, as pages flagged
    reduced-resolution, as SubIFDs, or as plain smaller pages: the full-resolution image is
    the frame."""
    rng = np.random.default_rng(5)
    full = rng.integers(0, 4000, (104, 140), dtype=np.uint16)
    path = tmp_path / "A1-1-C2.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(full, subifds=2 if layout == "sub_ifds" else 0, compression="lzw")
        for level in (2, 4):
            kind = 0 if layout == "unflagged" else 1
            tif.write(full[::level, ::level], subfiletype=kind, compression="lzw")
    np.testing.assert_array_equal(read_frame(path), full)


def test_read_frame_single_channel_rgb_gives_that_channel(tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[5:10, 5:10, 0] = 200
    out = read_frame(_tif(tmp_path / "rgb.tif", rgb, photometric="rgb"))
    assert out.shape == (20, 30) and out.max() == 200 and out[7, 7] == 200


def test_broken_tiffs_raise_naming_the_file(tmp_path):
    zero = tmp_path / "V_B3_1_00d00h00m.tif"
    zero.write_bytes(b"")
    with pytest.raises(IncugrowthError, match=r"V_B3_1_00d00h00m\.tif: empty file"):
        read_frame(zero)

    good = _tif(tmp_path / "good.tif", np.ones((200, 200), np.uint16) * 7)
    truncated = tmp_path / "V_B4_1_00d00h00m.tif"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(IncugrowthError, match=r"V_B4_1_00d00h00m\.tif: truncated or damaged"):
        read_frame(truncated)

    jpeg = tmp_path / "V_B5_1_00d00h00m.tif"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100))
    with pytest.raises(
        IncugrowthError, match=r"V_B5_1_00d00h00m\.tif: is a JPEG image, not a TIFF"
    ):
        read_frame(jpeg)

    overlay = np.zeros((20, 30, 3), np.uint8)
    overlay[..., 0] = np.arange(30, dtype=np.uint8)
    overlay[..., 1] = 5
    overlay[2:4, 2:4, 1] = 90
    rgb = _tif(tmp_path / "V_B6_1_00d00h00m.tif", overlay, photometric="rgb")
    with pytest.raises(IncugrowthError, match=r"V_B6_1_00d00h00m\.tif: is a colour \(RGB\)"):
        read_frame(rgb)

    stack = _tif(
        tmp_path / "V_B7_1_00d00h00m.tif", np.zeros((5, 8, 8), np.uint16), photometric="minisblack"
    )
    with pytest.raises(IncugrowthError, match=r"V_B7_1_00d00h00m\.tif: is a stack of 5"):
        read_frame(stack)


def test_simulated_experiment_frames_round_trip(tmp_path):
    from incugrowth.simulate import simulate_experiment

    simulate_experiment(
        tmp_path,
        frame_shape=(64, 96),
        times=[0, 24, 72],
        wells=["D1", "A12"],
        fields=2,
        jobs=1,
        progress=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = find_frames(tmp_path)
    assert len(df) == 2 * 2 * 3 * 2  # channels x wells x times x fields
    assert set(df["prefix"]) == {"sim_fig4"}
    red = select_channel(df)
    assert red["well"].unique().tolist() == ["A12", "D1"]
    assert red["elapsed_h"].unique().tolist() == [0.0, 24.0, 72.0]
    assert read_frame(red["path"].iloc[0]).dtype == np.uint16
    assert read_frame(df.loc[df["channel"] == "phase", "path"].iloc[0]).dtype == np.uint8
