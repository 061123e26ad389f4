"""The nucleus size each well was counted with, how sure it is, and its words for the methods."""

from __future__ import annotations

import numpy as np
import pandas as pd

_SOURCE_WORDS = {
    "well": "its own frames",
    "plate": "the plate (its frames disagree or are too few)",
    "given": "given (--diameter)",
    "none": "none (no frame to estimate)",
}


def _sizes_section(tables) -> dict | None:
    """Rows of ``sizes.csv`` for the report, with the wells whose size is uncertain; None
    for a run without it (a metric export, phase frames, or a run before it existed)."""
    sizes = tables.get("sizes")
    if sizes is None or sizes.empty or "diameter_px" not in sizes.columns:
        return None
    rows = []
    for r in sizes.itertuples():
        spread = getattr(r, "spread", np.nan)
        rows.append(
            {
                "well": str(r.well),
                "size": _px(r.diameter_px),
                "source": _SOURCE_WORDS.get(str(r.source), str(r.source)),
                "n": _int(getattr(r, "n_estimated", np.nan)),
                "spread": "" if pd.isna(spread) else f"{100 * float(spread):.0f} %",
                "flagged": _int(getattr(r, "frames_flagged", np.nan)),
                "uncertain": _true(getattr(r, "uncertain", False)),
            }
        )
    uncertain = [r["well"] for r in rows if r["uncertain"]]
    return {"rows": rows, "uncertain": uncertain, "n_wells": len(rows)}


def size_words(tables) -> str | None:
    """The nucleus sizes of a run in words for the methods, naming each well's size in
    pixels (wells of one size together); None without ``sizes.csv``.

    Examples
    --------
    >>> import pandas as pd
    >>> sizes = pd.DataFrame({"well": ["B2", "B3", "C2"], "diameter_px": [9.37, 9.37, 9.56],
    ...                       "source": ["well", "well", "plate"]})
    >>> size_words({"sizes": sizes}).split(": ")[1]
    "9.37 px (B2, B3), 9.56 px (C2, the plate's)"
    """
    sizes = tables.get("sizes")
    if sizes is None or sizes.empty or "diameter_px" not in sizes.columns:
        return None
    if (sizes["source"] == "given").all():
        return f"a nucleus diameter of {_px(sizes['diameter_px'].iloc[0])} given for every well"
    groups = []
    for (size, source), wells in sizes.groupby(["diameter_px", "source"], sort=True)["well"]:
        note = ", the plate's" if source == "plate" else ""
        groups.append(f"{_px(size)} ({', '.join(map(str, wells))}{note})")
    return (
        "one nucleus diameter per well, the median of the estimates of a sample of its frames "
        "that agree (the plate's where they disagree or are too few): " + ", ".join(groups)
    )


def _px(value) -> str:
    return "not estimated" if pd.isna(value) else f"{float(value):.2f} px"


def _int(value) -> str:
    return "" if pd.isna(value) else str(int(value))


def _true(value) -> bool:
    return str(value).strip().lower() in ("true", "1")
