"""Writers of IncuCyte's file formats: frame TIFFs and names, metric export, plate map XML."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from incugrowth._io import atomic_path
from incugrowth.simulate._common import _minute


def _write_tiff(path: Path, image: np.ndarray) -> None:
    import tifffile

    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp,
            image,
            compression="lzw",
            predictor=True,
            photometric="minisblack",
            resolution=(72.0, 72.0),
            resolutionunit="INCH",
            metadata=None,
        )


def time_token(hours: float) -> str:
    """The ``<DD>d<HH>h<MM>m`` part of an IncuCyte frame name.

    Examples
    --------
    >>> time_token(0), time_token(47.5667), time_token(96)
    ('00d00h00m', '01d23h34m', '04d00h00m')
    """
    days, rest = divmod(_minute(hours), 24 * 60)
    hh, mm = divmod(rest, 60)
    return f"{days:02d}d{hh:02d}h{mm:02d}m"


def _column_major(wells: Iterable[str]) -> list[str]:
    return sorted(set(wells), key=lambda w: (int(w[1:]), w[0]))


def write_export(
    counts: pd.DataFrame,
    path: str | os.PathLike,
    *,
    metric: str = "Red Object Count (Per Image)",
    vessel: str = "simulated plate",
    analysis: str = "NucLight Red nuclear count",
    start: datetime = datetime(2016, 3, 14, 10, 26),
) -> Path:
    """Write counts as an IncuCyte S3/SX5 metric export (tab-separated, CRLF, UTF-8).

    One column per well and image (``B2, Image 1``), wells in IncuCyte's column-major order
    (B2, C2, ..., B3, ...); ``Date Time`` in day/month/year form from ``start`` plus the
    elapsed hours.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> counts = pd.DataFrame({"well": ["B2", "B2", "C2", "C2"], "field": [1, 1, 1, 1],
    ...                        "elapsed_h": [0.0, 4.0, 0.0, 4.0], "count": [200, 230, 180, 190]})
    >>> p = write_export(counts, pathlib.Path(tempfile.mkdtemp()) / "export.txt")
    >>> print(p.read_text().replace("\\t", " | "))  # doctest: +NORMALIZE_WHITESPACE
    Vessel Name: simulated plate
    Metric: Red Object Count (Per Image)
    Analysis: NucLight Red nuclear count
    <BLANKLINE>
    Date Time | Elapsed | B2, Image 1 | C2, Image 1
    14/03/2016 10:26:00 | 0 | 200 | 180
    14/03/2016 14:26:00 | 4 | 230 | 190
    """
    wide = counts.pivot_table(
        index="elapsed_h", columns=["well", "field"], values="count", aggfunc="first"
    )
    order = [
        (w, f) for w in _column_major(counts["well"]) for f in sorted(counts["field"].unique())
    ]
    order = [key for key in order if key in wide.columns]
    wide = wide[order]
    lines = [
        f"Vessel Name: {vessel}",
        f"Metric: {metric}",
        f"Analysis: {analysis}",
        "",
        "\t".join(["Date Time", "Elapsed", *(f"{w}, Image {int(f)}" for w, f in order)]),
    ]
    for t, values in wide.iterrows():
        stamp = (start + timedelta(hours=float(t))).strftime("%d/%m/%Y %H:%M:%S")
        cells = ["" if pd.isna(v) else f"{int(v)}" for v in values]
        lines.append("\t".join([stamp, f"{float(t):g}", *cells]))
    text = "\r\n".join(lines) + "\r\n"
    with atomic_path(path) as tmp:
        tmp.write_bytes(text.encode("utf-8"))
    return Path(path)


_PALETTE = (
    0xFF1F77B4, 0xFFFF7F0E, 0xFF2CA02C, 0xFFD62728, 0xFF9467BD,
    0xFF8C564B, 0xFFE377C2, 0xFF7F7F7F, 0xFFBCBD22, 0xFF17BECF,
)  # fmt: skip


def _argb(i: int) -> int:
    value = _PALETTE[i % len(_PALETTE)]
    return value - (1 << 32)  # signed 32-bit, as .PlateMap files store colours


def write_plate_map_xml(
    plate: pd.DataFrame,
    path: str | os.PathLike,
    *,
    rows: int = 8,
    columns: int = 12,
) -> Path:
    """Write a plate map as an IncuCyte ``.PlateMap`` XML file (UTF-8 with a BOM).

    Every well of the plate is listed with 0-based ``row``/``col``; an annotated well has a
    ``wellItem type="CellType"`` and, when treated or untreated, a ``wellItem
    type="Compound"`` whose ``referenceItem displayName`` is the treatment, with
    ``concentration`` and ``concentrationUnits`` when it has a dose. A ``seeding_density``
    column (cells per well) becomes the CellType item's ``seedingDensity``. The vehicle
    (``control``) is not written: IncuCyte would read a second compound as a combination.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> plate = pd.DataFrame({"well": ["B2"], "cell_line": ["M407"], "treatment": ["IFN gamma"],
    ...                       "dose": [100.0], "dose_unit": ["ng/ml"]})
    >>> p = write_plate_map_xml(plate, pathlib.Path(tempfile.mkdtemp()) / "p.PlateMap")
    >>> raw = p.read_bytes()
    >>> raw[:3] == b"\\xef\\xbb\\xbf", b'concentration="100" concentrationUnits="ng/ml"' in raw
    (True, True)
    """
    compounds = list(dict.fromkeys(plate["treatment"].astype(str)))
    lines_ = list(dict.fromkeys(plate["cell_line"].astype(str)))
    colour = {("Compound", c): _argb(i) for i, c in enumerate(compounds)}
    colour.update({("CellType", c): _argb(i + 5) for i, c in enumerate(lines_)})

    def ref(kind: str, name: str) -> str:
        q = quoteattr(name)
        return (
            f'<referenceItem type="{kind}" description={q} displayName={q} '
            f'colorArgb="{colour[kind, name]}" />'
        )

    by_well = {str(r["well"]): r for _, r in plate.iterrows()}
    out = ['<?xml version="1.0" encoding="utf-8"?>', "<plateMap>", "  <referenceItemManager>"]
    out.append("    <referenceItems>")
    out += [f"      {ref('Compound', c)}" for c in compounds]
    out += [f"      {ref('CellType', c)}" for c in lines_]
    out += ["    </referenceItems>", "  </referenceItemManager>", "  <wellStore>", "    <wells>"]
    for r in range(rows):
        for c in range(columns):
            well = f"{chr(65 + r)}{c + 1}"
            row = by_well.get(well)
            if row is None:
                out.append(f'      <well row="{r}" col="{c}" />')
                continue
            out += [f'      <well row="{r}" col="{c}">', "        <items>"]
            density = row.get("seeding_density", np.nan)
            cell_attrs = (
                ""
                if pd.isna(density)
                else f' seedingDensity="{float(density):g}" seedingDensityUnits="cells/well"'
            )
            out += [
                f'          <wellItem type="CellType"{cell_attrs}>',
                f"            {ref('CellType', str(row['cell_line']))}",
                "          </wellItem>",
            ]
            dose = row.get("dose", np.nan)
            attrs = ""
            if dose is not None and not pd.isna(dose):
                unit = "" if pd.isna(row.get("dose_unit", "")) else str(row.get("dose_unit", ""))
                attrs = f' concentration="{float(dose):g}" concentrationUnits={quoteattr(unit)}'
            out += [
                f'          <wellItem type="Compound"{attrs}>',
                f"            {ref('Compound', str(row['treatment']))}",
                "          </wellItem>",
            ]
            out += ["        </items>", "      </well>"]
    out += ["    </wells>", "  </wellStore>", "</plateMap>"]
    with atomic_path(path) as tmp:
        tmp.write_bytes(("\r\n".join(out) + "\r\n").encode("utf-8-sig"))
    return Path(path)
