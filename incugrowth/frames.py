"""Frame finder: IncuCyte image exports (TIFF file names) to the frames table, and frame reading.

Three layouts are recognised, in any folder depth under the folder given:

* elapsed-time exports ``<prefix>_<Well>_<Field>_<DD>d<HH>h<MM>m.tif``
  (e.g. ``VID1630_C4_1_01d23h34m.tif``; the prefix may contain underscores);
* absolute-time exports ``<prefix>_<Well>_<Field>_<YYYY>y<MM>m<DD>d_<HH>h<MM>m.tif``
  (elapsed time is counted from the earliest scan found in the folder);
* the raw archive ``EssenFiles/ScanData/YYMM/DD/HHMM/<plate>/<Well>-<Field>-<Ph|C1|C2>.tif``
  (elapsed time from the scan folders, counted from the earliest scan).

The channel comes from a channel word in the file name (``..._C4_1_red_01d23h34m.tif`` or a
prefix part such as ``VID1630_Phase_C4_1_...``; ``gfp`` is green, ``rfp`` and ``mcherry`` red),
a one-letter code just before the well (``2101001_G_A1_1_...``: ``R`` red, ``G`` green, ``P``
phase), from the archive code, or from the nearest per-channel folder (``phase/``, ``red/``,
``green/``, ``GFP/``, ...; case-insensitive). Archive codes follow
the IncuCyte S3/SX5 archive: ``Ph`` is phase contrast, ``C1`` the first fluorescence channel
(green) and ``C2`` the second (red); the same mapping is used by public IncuCyte archive readers
(e.g. the ``IncucyteSource`` of biomero-converter). A frame with no channel hint at all gets
the channel ``"unknown"``.
"""

from __future__ import annotations

import os
import re
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthError, IncugrowthWarning, input_error

__all__ = [
    "FRAME_PATTERN",
    "find_frames",
    "parse_frame_name",
    "read_frame",
    "select_channel",
]

#: The file name form reported in error messages.
FRAME_PATTERN = (
    "<prefix>_<Well>_<Field>_<DD>d<HH>h<MM>m.tif (e.g. VID1630_C4_1_01d23h34m.tif), "
    "<prefix>_<Well>_<Field>_<YYYY>y<MM>m<DD>d_<HH>h<MM>m.tif, or "
    "EssenFiles/ScanData/YYMM/DD/HHMM/<plate>/<Well>-<Field>-<Ph|C1|C2>.tif"
)

_TIFF_SUFFIXES = (".tif", ".tiff")

# Channel words accepted in folder names and in file names, mapped to the table's names.
_CHANNEL_WORDS = {
    "phase": "phase",
    "ph": "phase",
    "phasecontrast": "phase",
    "red": "red",
    "rfp": "red",
    "mcherry": "red",
    "green": "green",
    "gfp": "green",
    "blue": "blue",
    "nir": "nir",
    "orange": "orange",
}
# One-letter channel codes, recognised as the last prefix part only, just before the well
# (``2101001_G_A1_1_04d00h00m.tif``: R red, G green, P phase).
_SHORT_CODES = {"r": "red", "g": "green", "p": "phase"}
# Raw-archive channel codes (S3/SX5): C1 is the green, C2 the red fluorescence channel.
_ARCHIVE_CODES = {"ph": "phase", "p": "phase", "c1": "green", "c2": "red"}

_WELL = r"(?P<well>[A-Pa-p]\d{1,2})"
_ELAPSED_RE = re.compile(
    rf"^(?P<prefix>.+)_{_WELL}_(?P<field>\d{{1,4}})_(?:(?P<channel>[A-Za-z][A-Za-z]*)_)?"
    r"(?P<days>\d{1,3})d(?P<hours>\d{1,2})h(?P<minutes>\d{1,2})m$"
)
_ABSOLUTE_RE = re.compile(
    rf"^(?P<prefix>.+)_{_WELL}_(?P<field>\d{{1,4}})_(?:(?P<channel>[A-Za-z][A-Za-z]*)_)?"
    r"(?P<year>\d{4})y(?P<month>\d{1,2})m(?P<day>\d{1,2})d_(?P<hour>\d{1,2})h(?P<minute>\d{1,2})m$"
)
_ARCHIVE_RE = re.compile(rf"^{_WELL}-(?P<field>\d{{1,4}})-(?P<code>[A-Za-z][A-Za-z0-9]*)$")

_COLUMNS = ["path", "well", "field", "elapsed_h", "channel", "prefix", "mtime", "size"]


def _canonical_well(text: str) -> str | None:
    row, col = text[0].upper(), int(text[1:])
    if not 1 <= col <= 24:
        return None
    return f"{row}{col}"


def _channel_word(word: str | None) -> str | None:
    if not word:
        return None
    low = word.lower()
    return _CHANNEL_WORDS.get(low, low)


def _archive_time(path: Path) -> datetime | None:
    """Scan time from ``.../ScanData/YYMM/DD/HHMM/<plate>/<file>``, or None."""
    parts = path.parts
    if len(parts) < 6:
        return None
    yymm, dd, hhmm = parts[-5], parts[-4], parts[-3]
    if not (len(yymm) == 4 and yymm.isdigit() and dd.isdigit() and len(hhmm) == 4):
        return None
    try:
        return datetime(2000 + int(yymm[:2]), int(yymm[2:]), int(dd), int(hhmm[:2]), int(hhmm[2:]))
    except ValueError:
        return None


def parse_frame_name(name: str | os.PathLike) -> dict | None:
    """Parse an IncuCyte frame file name; None when it is not one.

    Parameters
    ----------
    name : str or path
        A file name, or a path. For the raw-archive form (``B3-1-C2.tif``) a path that still
        has its ``YYMM/DD/HHMM/<plate>`` folders gives the scan time and plate.

    Returns
    -------
    dict or None
        ``form`` (``"elapsed"``, ``"absolute"`` or ``"archive"``), ``prefix`` (the plate
        folder for the archive), ``well`` (canonical, ``"B3"``), ``field`` (1-based int),
        ``channel`` (lower case, None when the name has none), ``elapsed_h`` (float, elapsed
        form only, else None) and ``datetime`` (absolute and archive forms, else None).

    Examples
    --------
    >>> d = parse_frame_name("VID1630_C4_1_01d23h34m.tif")
    >>> d["prefix"], d["well"], d["field"], round(d["elapsed_h"], 4), d["channel"]
    ('VID1630', 'C4', 1, 47.5667, None)
    >>> parse_frame_name("my_exp_2_B03_2_2016y03m14d_10h26m.TIFF")["datetime"]
    datetime.datetime(2016, 3, 14, 10, 26)
    >>> d = parse_frame_name("EssenFiles/ScanData/1603/14/1026/700/B3-1-C2.tif")
    >>> d["well"], d["channel"], d["prefix"], d["datetime"]
    ('B3', 'red', '700', datetime.datetime(2016, 3, 14, 10, 26))
    >>> parse_frame_name("notes.tif") is None
    True
    """
    path = Path(name)
    if path.suffix.lower() not in _TIFF_SUFFIXES:
        return None
    stem = path.name[: -len(path.suffix)]

    m = _ELAPSED_RE.match(stem)
    if m:
        well = _canonical_well(m["well"])
        hours, minutes = int(m["hours"]), int(m["minutes"])
        if well is None or hours > 23 or minutes > 59:
            return None
        elapsed = int(m["days"]) * 24.0 + hours + minutes / 60.0
        return _record("elapsed", m, well, elapsed_h=elapsed)

    m = _ABSOLUTE_RE.match(stem)
    if m:
        well = _canonical_well(m["well"])
        try:
            when = datetime(
                int(m["year"]), int(m["month"]), int(m["day"]), int(m["hour"]), int(m["minute"])
            )
        except ValueError:
            return None
        if well is None:
            return None
        return _record("absolute", m, well, when=when)

    m = _ARCHIVE_RE.match(stem)
    if m:
        well = _canonical_well(m["well"])
        if well is None:
            return None
        code = m["code"].lower()
        plate = path.parent.name if len(path.parts) > 1 else ""
        return {
            "form": "archive",
            "prefix": plate,
            "well": well,
            "field": int(m["field"]),
            "channel": _ARCHIVE_CODES.get(code, code),
            "elapsed_h": None,
            "datetime": _archive_time(path),
        }
    return None


def _record(form: str, m: re.Match, well: str, *, elapsed_h=None, when=None) -> dict:
    prefix = m["prefix"]
    channel = _channel_word(m["channel"])
    if channel is None:
        # A channel word among the prefix parts (e.g. "VID1630_Phase"); the last one wins.
        parts = prefix.split("_")
        for part in reversed(parts):
            if part.lower() in _CHANNEL_WORDS:
                channel = _CHANNEL_WORDS[part.lower()]
                break
        else:
            if len(parts) > 1:  # a one-letter code just before the well ("2101001_G")
                channel = _SHORT_CODES.get(parts[-1].lower())
    return {
        "form": form,
        "prefix": prefix,
        "well": well,
        "field": int(m["field"]),
        "channel": channel,
        "elapsed_h": elapsed_h,
        "datetime": when,
    }


def _folder_channel(path: Path, root: Path) -> str | None:
    """Channel from the nearest per-channel folder between the file and the root (inclusive)."""
    folder = path.parent
    while True:
        word = folder.name.lower()
        if word in _CHANNEL_WORDS:
            return _CHANNEL_WORDS[word]
        if folder == root or folder == folder.parent:
            return None
        folder = folder.parent


def _well_sort_key(wells: pd.Series) -> pd.Series:
    return wells.map(lambda w: (ord(w[0]) - 65) * 100 + int(w[1:]))


def find_frames(folder: str | os.PathLike, *, channel: str | None = None) -> pd.DataFrame:
    """Find the frames of an IncuCyte image export and return the frames table.

    Parameters
    ----------
    folder : path
        Folder searched recursively for ``.tif``/``.tiff`` files (any case). Other files and
        hidden files (names starting with ``.``, such as macOS ``._`` companions) are ignored.
    channel : str, optional
        Keep only this channel (``"red"``, ``"phase"``, ...; case-insensitive).

    Returns
    -------
    DataFrame
        One row per frame: ``path`` (str), ``well`` (``"B3"``), ``field`` (int, 1-based),
        ``elapsed_h`` (float; for clock-time names, hours since the first frame, the frames
        of one scan, named up to minutes apart, at the scan's first time: see
        :func:`incugrowth.kinetics.scan_start`), ``channel`` (lower case), ``prefix``,
        ``mtime`` (seconds since the epoch) and ``size`` (bytes); sorted by channel, well,
        field and time.
        ``df.attrs["unparsed"]`` lists TIFF files whose names are not frame names (reported
        with one :class:`IncugrowthWarning`), ``df.attrs["duplicates"]`` the files dropped as
        second copies of one well, field, time and channel (also warned about; the copy with
        the first path in sort order is kept).

    Raises
    ------
    IncugrowthError
        The folder is missing, holds no TIFF frames, or lacks the requested channel.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ["red/VID1_B3_1_00d00h00m.tif", "red/VID1_B3_1_00d04h00m.tif",
    ...              "phase/VID1_B3_1_00d00h00m.tif"]:
    ...     (tmp / name).parent.mkdir(exist_ok=True)
    ...     _ = (tmp / name).write_bytes(b"")
    >>> find_frames(tmp)[["well", "field", "elapsed_h", "channel"]]
      well  field  elapsed_h channel
    0   B3      1        0.0   phase
    1   B3      1        0.0     red
    2   B3      1        4.0     red
    """
    root = Path(folder)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "folder not found"
        raise input_error(root, f"{what}; expected a folder of TIFF frames named {FRAME_PATTERN}")

    tiffs = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in _TIFF_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
    if not tiffs:
        raise input_error(root, f"no TIFF frames found; expected files named {FRAME_PATTERN}")

    records, unparsed = [], []
    for p in tiffs:
        rec = parse_frame_name(p)
        if rec is None or (rec["elapsed_h"] is None and rec["datetime"] is None):
            unparsed.append(str(p))
            continue
        if rec["channel"] is None:
            rec["channel"] = _folder_channel(p, root) or "unknown"
        st = p.stat()
        rec.update(path=str(p), mtime=st.st_mtime, size=st.st_size)
        records.append(rec)

    if not records:
        examples = ", ".join(Path(u).name for u in unparsed[:2])
        raise input_error(
            root,
            f"no file name is a frame name (e.g. {examples}); expected files named {FRAME_PATTERN}",
        )
    if unparsed:
        examples = ", ".join(Path(u).name for u in unparsed[:2])
        warnings.warn(
            f"{root}: {len(unparsed)} TIFF file(s) not named as frames were skipped "
            f"(e.g. {examples}); expected {FRAME_PATTERN}",
            IncugrowthWarning,
            stacklevel=2,
        )

    df = pd.DataFrame.from_records(records)
    absolute = df["elapsed_h"].isna()
    if absolute.any():
        from incugrowth.kinetics import scan_start

        times = pd.to_datetime(df.loc[absolute, "datetime"])
        hours = (times - times.min()).dt.total_seconds() / 3600.0
        # the wells of one scan may be named minutes apart: each takes its scan's first time
        df.loc[absolute, "elapsed_h"] = scan_start(hours.to_numpy())
    df["elapsed_h"] = df["elapsed_h"].astype(float).round(6)
    df["field"] = df["field"].astype("int64")
    df["size"] = df["size"].astype("int64")

    df = df.sort_values("path", kind="stable")
    keys = ["channel", "well", "field", "elapsed_h"]
    dup = df.duplicated(keys, keep="first")
    duplicates = df.loc[dup, "path"].tolist()
    if duplicates:
        first = df.loc[dup].iloc[0]
        prefixes = sorted(df.loc[df.duplicated(keys, keep=False), "prefix"].astype(str).unique())
        several = (
            f"; their names start {', '.join(prefixes[:4])}: if these are different plates or "
            "channels, give each its own folder (a channel folder such as red/ or phase/)"
            if len(prefixes) > 1
            else ""
        )
        warnings.warn(
            f"{root}: {len(duplicates)} duplicate frame(s) for one well, field, time and channel "
            f"were dropped (e.g. {Path(first['path']).name}: well {first['well']}, field "
            f"{first['field']}, {first['elapsed_h']:g} h, {first['channel']}); kept the first "
            f"path in sort order{several}",
            IncugrowthWarning,
            stacklevel=2,
        )
        df = df.loc[~dup]

    if channel is not None:
        df = _filter_channel(df, channel, root)

    df = (
        df.assign(_row=_well_sort_key(df["well"]))
        .sort_values(["channel", "_row", "field", "elapsed_h"], kind="stable")
        .reset_index(drop=True)[_COLUMNS]
    )
    df.attrs["folder"] = str(root)
    df.attrs["unparsed"] = unparsed
    df.attrs["duplicates"] = duplicates
    return df


def _filter_channel(frames: pd.DataFrame, channel: str, where) -> pd.DataFrame:
    wanted = _channel_word(channel.strip())
    available = sorted(frames["channel"].unique())
    if wanted not in available:
        raise input_error(
            where,
            f"no frames of channel {channel!r}; available channels: {', '.join(available)}",
        )
    return frames[frames["channel"] == wanted]


def select_channel(frames: pd.DataFrame, channel: str | None = None) -> pd.DataFrame:
    """Keep the frames of one channel: the one asked for, else red (nuclear), else the only one.

    Parameters
    ----------
    frames : DataFrame
        A frames table from :func:`find_frames`.
    channel : str, optional
        The channel to keep (case-insensitive). Without it, ``"red"`` is used when present,
        otherwise the only channel there is.

    Returns
    -------
    DataFrame
        The rows of that channel (index reset); ``attrs["channel"]`` names it.

    Raises
    ------
    IncugrowthError
        The channel asked for is missing, the table is empty, or there are several channels
        and none of them is red; the message lists the channels available.

    Examples
    --------
    >>> frames = pd.DataFrame({"well": ["B3", "B3"], "channel": ["phase", "red"]})
    >>> select_channel(frames)["channel"].tolist()
    ['red']
    >>> select_channel(frames, "Phase")["channel"].tolist()
    ['phase']
    """
    where = frames.attrs.get("folder")
    if len(frames) == 0:
        raise input_error(where, "the frames table is empty: no frames to count")
    if channel is not None:
        out = _filter_channel(frames, channel, where)
    else:
        available = sorted(frames["channel"].unique())
        if "red" in available:
            out = frames[frames["channel"] == "red"]
        elif len(available) == 1:
            out = frames
        else:
            raise input_error(
                where,
                f"several channels and no red (nuclear) one: {', '.join(available)}; "
                "choose one with --channel",
            )
    out = out.reset_index(drop=True)
    out.attrs["channel"] = str(out["channel"].iloc[0])
    return out


# Magic numbers of the formats most often found renamed to .tif.
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_OTHER_MAGIC = {
    b"\xff\xd8\xff": "a JPEG image",
    b"\x89PNG": "a PNG image",
    b"BM": "a BMP image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive",
}


def read_frame(path: str | os.PathLike) -> np.ndarray:
    """Read one frame as a 2-D array, keeping its dtype (LZW and other codecs work).

    Of a pyramid (an image and its reduced-resolution copies, as the raw archive stores
    frames), the full-resolution image is read. A colour (RGB/RGBA) frame whose signal is in
    one channel only, as when a single
    fluorescence channel is exported in colour, gives that channel (e.g. the red one for a
    red fluorescence frame); a grey image stored as RGB gives its first channel. A colour
    overlay with signal in several channels, a multi-page stack, and anything that is not a
    readable TIFF raise :class:`IncugrowthError` naming the file.

    Parameters
    ----------
    path : path
        The TIFF file.

    Returns
    -------
    ndarray
        The image, 2-D, in its stored dtype (``uint16`` fluorescence, ``uint8`` phase, ...).

    Examples
    --------
    >>> import tempfile, pathlib, tifffile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "VID1_B3_1_00d00h00m.tif"
    >>> tifffile.imwrite(p, np.arange(12, dtype=np.uint16).reshape(3, 4), compression="lzw")
    >>> img = read_frame(p)
    >>> img.shape, img.dtype, int(img[2, 3])
    ((3, 4), dtype('uint16'), 11)
    """
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise input_error(path, "frame file not found")
    size = path.stat().st_size
    if size == 0:
        raise input_error(path, "empty file (0 bytes): the frame was not written; re-export it")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head.startswith(_TIFF_MAGIC):
        for magic, kind in _OTHER_MAGIC.items():
            if head.startswith(magic):
                raise input_error(
                    path, f"is {kind}, not a TIFF; export the frames as TIFF from IncuCyte"
                )
        raise input_error(path, "not a TIFF file (unknown header); export the frames as TIFF")
    try:
        with tifffile.TiffFile(path) as tif:
            first = 0
            if len(tif.pages) > 1:
                # reduced-resolution copies (the pyramid levels of a raw-archive frame,
                # thumbnails: flagged so, or smaller than the largest image) are not frames
                full = [i for i, p in enumerate(tif.pages) if not int(p.subfiletype) & 1]
                largest = max(tif.pages[i].shape[:2] for i in full) if full else None
                full = [i for i in full if tif.pages[i].shape[:2] == largest]
                if len(full) != 1:
                    raise input_error(
                        path,
                        f"is a stack of {len(full)} images; export one frame per file "
                        "(<prefix>_<Well>_<Field>_<DD>d<HH>h<MM>m.tif)",
                    )
                first = full[0]
            page = tif.pages[first]
            # OpenCV reads a file's first image only
            image = _read_plain(path, page) if first == 0 else None
            if image is None:
                image = page.asarray()
    except IncugrowthError:
        raise
    except Exception as exc:  # tifffile/imagecodecs raise many types for damaged files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise input_error(
            path, f"truncated or damaged TIFF ({reason}); re-export the frame"
        ) from None
    return _as_2d(image, path)


def _read_plain(path: Path, page) -> np.ndarray | None:
    """The common frame (one grey 8- or 16-bit image, uncompressed, LZW or Deflate, in
    strips or tiles) decoded by libtiff through OpenCV, about twice as fast as tifffile's
    LZW decoder (8-10 ms against 15-17 for a 1408 x 1040 frame); None for anything else,
    or when OpenCV cannot read it, so that tifffile reads it (and reports damage)."""
    import cv2
    import tifffile

    if not (
        page.samplesperpixel == 1
        and page.dtype in (np.uint8, np.uint16)
        and page.photometric == tifffile.PHOTOMETRIC.MINISBLACK
        and page.compression in _PLAIN_COMPRESSION
        and page.predictor in (tifffile.PREDICTOR.NONE, tifffile.PREDICTOR.HORIZONTAL)
        and page.fillorder == 1
        and page.tags.valueof(274, 1) == 1  # orientation: rows top to bottom
        and len(page.shape) == 2
    ):
        return None
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # libtiff's tag notes
    try:
        image = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    finally:
        cv2.utils.logging.setLogLevel(level)
    if image is None or image.shape != page.shape or image.dtype != page.dtype:
        return None
    return image


_PLAIN_COMPRESSION = (1, 5, 8, 32946)  # none, LZW, Adobe Deflate, Deflate


def _as_2d(image: np.ndarray, path: Path) -> np.ndarray:
    while image.ndim > 2 and image.shape[0] == 1:
        image = image[0]
    if image.ndim == 3 and image.shape[0] in (3, 4) and image.shape[-1] not in (3, 4):
        image = np.moveaxis(image, 0, -1)  # planar (separate) colour samples
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        colours = image[..., :3]
        flat = colours.reshape(-1, 3)
        if np.all(flat == flat[:, :1]):
            return np.ascontiguousarray(colours[..., 0])
        spread = flat.max(axis=0).astype(np.float64) - flat.min(axis=0)
        with_signal = np.flatnonzero(spread > 0)
        if len(with_signal) == 1:
            return np.ascontiguousarray(colours[..., with_signal[0]])
        raise input_error(
            path,
            "is a colour (RGB) image with signal in several channels, e.g. an overlay; "
            "export the single-channel frames (red, phase) instead",
        )
    raise input_error(path, f"is not a 2-D image (shape {image.shape}); export one frame per file")
