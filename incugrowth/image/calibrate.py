"""One nucleus size per well (and plate) from the per-frame estimates.

The frames of one well over time show the same cells through the same optics, so they share
one nucleus size; a frame whose own estimate contradicts the others (blurred, nearly empty,
a clump) has a wrong estimate, not other nuclei. The well's size is the median of the
estimates that agree with the well's median; a well whose frames do not agree, or that has
too few usable frames, takes the size of the plate (the median of the wells that agree).
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

__all__ = [
    "MAX_SPREAD",
    "MIN_FRAMES",
    "SIZE_TOLERANCE",
    "robust_size",
    "sample_for_size",
    "size_disagrees",
    "well_sizes",
]

#: A frame's own estimate disagrees with a size when it is more than this factor larger or
#: smaller (outside 0.67-1.5 times): the counter's seeds and splits are set for the size, so
#: a nucleus 1.5 times larger is split or one 1.5 times smaller is lost.
SIZE_TOLERANCE = 1.5
#: A well needs at least this many agreeing estimates (and two thirds of its estimates
#: agreeing) for a size of its own; otherwise it takes the plate's.
MIN_FRAMES = 3
#: Spread of a well's per-frame estimates (interquartile range over median) above which the
#: size its counts rest on is called uncertain.
MAX_SPREAD = 0.3
#: Sizes are kept on a grid of 2 % steps, so that an estimate that moves by a fraction of a
#: percent as frames are added (a growing acquisition) does not make the well be counted
#: again: a 1 % change of size changes no count that matters.
GRID = 1.02
#: Frames estimated per well: all up to this many ...
SAMPLE_MIN = 12
#: ... and one in this many beyond (a well of 4 fields x 25 scans: 12 frames).
SAMPLE_EVERY = 10


def robust_size(estimates) -> tuple[float, int, float]:
    """Size of one well from its frames' estimates, ignoring those that contradict the rest.

    The estimates outside :data:`SIZE_TOLERANCE` of their median (in either direction) are
    dropped and the (lower) median of the others is the size.

    Parameters
    ----------
    estimates : array-like of float
        Per-frame diameters in pixels; NaN (no estimate: blank or empty frame) is ignored.

    Returns
    -------
    size : float
        Lower median of the agreeing estimates, NaN without any finite estimate.
    n_agree : int
        Number of estimates that agree.
    spread : float
        Interquartile range over median of all finite estimates (0 for one), NaN without any.

    Examples
    --------
    >>> size, n, spread = robust_size([12.0, 12.4, 11.8, 30.0, float("nan")])
    >>> round(size, 1), n
    (12.0, 3)
    >>> robust_size([])
    (nan, 0, nan)
    """
    values = np.asarray(estimates, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return float("nan"), 0, float("nan")
    middle = np.median(values)
    agree = values[np.abs(np.log(values / middle)) <= np.log(SIZE_TOLERANCE)]
    q1, q3 = np.percentile(values, [25, 75])
    # the lower median is one of the estimates: it moves less than a mean of two as
    # frames are added
    size = float(np.percentile(agree, 50, method="lower")) if agree.size else float("nan")
    return size, int(agree.size), float((q3 - q1) / middle)


def _on_grid(size: float) -> float:
    if not np.isfinite(size):
        return size
    return round(float(GRID ** round(np.log(size) / np.log(GRID))), 2)


def size_disagrees(frame_diameter, diameter, tolerance: float = SIZE_TOLERANCE):
    """Whether each frame's own estimate is off the size used by more than `tolerance` times.

    A frame without an estimate (NaN: blank, or no nucleus to measure) does not disagree.

    Examples
    --------
    >>> size_disagrees([12.0, 19.0, 7.0, float("nan")], 12.0).tolist()
    [False, True, True, False]
    """
    own = np.asarray(frame_diameter, dtype=float)
    used = np.asarray(diameter, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.abs(np.log(own / used))
    return np.nan_to_num(ratio, nan=0.0) > np.log(tolerance) + 1e-9


def sample_for_size(frames: pd.DataFrame, by: str = "well") -> pd.Index:
    """The frames whose own size estimate makes each well's size: a fixed pseudo-random
    sample, spread over fields and times.

    Every frame of a well of up to :data:`SAMPLE_MIN` frames; beyond, that many or one in
    :data:`SAMPLE_EVERY`, whichever is more. A frame is chosen by a hash of its file name,
    so a frame chosen stays chosen as frames are added to the folder (a growing
    acquisition needs only the new frames' estimates).

    Returns the index labels of the chosen rows of `frames`.

    Examples
    --------
    >>> import pandas as pd
    >>> frames = pd.DataFrame({"path": [f"A1_{t}.tif" for t in range(40)], "well": "A1"})
    >>> len(sample_for_size(frames))
    12
    """
    names = frames["path"].astype(str).map(lambda p: p.replace("\\", "/").rsplit("/", 1)[-1])
    rank = names.map(lambda n: zlib.crc32(n.encode()))
    chosen = []
    for _, rows in rank.groupby(frames[by], sort=False):
        n = max(SAMPLE_MIN, -(-len(rows) // SAMPLE_EVERY))
        chosen.append(rows.sort_values(kind="stable").index[:n])
    return chosen[0].append(chosen[1:]) if chosen else frames.index[:0]


def well_sizes(estimates: pd.DataFrame, *, diameter: float | None = None) -> pd.DataFrame:
    """One nucleus size per well from per-frame estimates, falling back on the plate's.

    Parameters
    ----------
    estimates : DataFrame
        ``well`` and ``frame_diameter_px`` (one row per estimated frame; NaN for a frame
        without an estimate). Wells without any row may be listed with NaN to get the
        plate's size.
    diameter : float, optional
        A size given by the user: every well takes it (``source`` ``given``).

    Returns
    -------
    DataFrame
        One row per well: ``well``, ``diameter_px`` (the size its frames are counted with),
        ``source`` (``well``: at least :data:`MIN_FRAMES` and two thirds of its frames
        agree; ``plate``: the median of those wells' sizes, as its frames do not agree or
        are too few; ``given``; ``none``: no frame of the plate has an estimate),
        ``n_estimated`` (frames with an estimate), ``n_agree``, ``spread`` (interquartile
        range over median of the estimates) and ``uncertain``: its frames do not agree,
        spread more than :data:`MAX_SPREAD`, or (too few) disagree with the plate's size.
        ``attrs["plate_px"]`` is the plate's size.

    Examples
    --------
    >>> import pandas as pd
    >>> est = pd.DataFrame({"well": ["A1"] * 4 + ["A2"] * 2,
    ...                     "frame_diameter_px": [12, 12.2, 11.9, 25, 13, 40]})
    >>> sizes = well_sizes(est)
    >>> sizes[["well", "diameter_px", "source", "uncertain"]].values.tolist()
    [['A1', 11.89, 'well', False], ['A2', 11.89, 'plate', True]]
    """
    rows = []
    for well, group in estimates.groupby("well", sort=False):
        size, n_agree, spread = robust_size(group["frame_diameter_px"])
        values = pd.to_numeric(group["frame_diameter_px"], errors="coerce")
        n_est = int((values > 0).sum())
        rows.append((well, size, 3 * n_agree >= 2 * n_est, n_est, n_agree, spread))
    table = pd.DataFrame(
        rows, columns=["well", "own_px", "consistent", "n_estimated", "n_agree", "spread"]
    )
    own = table["consistent"] & (table["n_agree"] >= MIN_FRAMES)
    if own.any():
        plate = robust_size(table.loc[own, "own_px"])[0]
    else:  # no well has enough agreeing frames of its own: the plate's estimates pooled
        plate = robust_size(estimates["frame_diameter_px"])[0]
    if diameter is not None:
        table["diameter_px"] = float(diameter)
        table["source"] = "given"
        table["uncertain"] = False
    else:
        table["diameter_px"] = np.where(own, table["own_px"], plate)
        table["diameter_px"] = table["diameter_px"].map(_on_grid)
        table["source"] = np.where(own, "well", "plate")
        table.loc[~np.isfinite(table["diameter_px"]), "source"] = "none"
        # a well of too few frames that agree with the plate's size is as sure as the plate
        off_plate = size_disagrees(table["own_px"], plate)
        table["uncertain"] = (
            ~table["consistent"]
            | (table["spread"] > MAX_SPREAD)
            | (~own & off_plate)
            | (table["source"] == "none")
        )
    out = table.drop(columns=["own_px", "consistent"]).reset_index(drop=True)
    out.attrs["plate_px"] = _on_grid(plate) if diameter is None else float(diameter)
    return out
