"""Quality control of frames (focus, saturation, empty) and of count series (jumps)."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from incugrowth.image._kernels import label_count
from incugrowth.image._util import as_float_image, gaussian, noise_sigma

__all__ = [
    "EMPTY_SNR",
    "FOCUS_MIN",
    "SATURATED_MAX",
    "flag_count_jumps",
    "focus_score",
    "frame_qc",
]

#: A frame whose focus score is below this is flagged ``out_of_focus``. Sharp fluorescence
#: frames of nuclei 7 to 50 px across score 0.07 to 0.2; a Gaussian blur of 2 px brings them
#: below 0.055, of 4 px below 0.04.
FOCUS_MIN = 0.06
#: A frame with more than this fraction of saturated pixels is flagged ``saturated``.
SATURATED_MAX = 0.01
#: A frame whose brightest structures stand less than this many noise deviations above the
#: median is flagged ``empty`` (when no labels are given).
EMPTY_SNR = 5.0


def focus_score(image) -> float:
    """Share of fine detail in the frame's structure: 0 (blurred) to 1 (sharp).

    The ratio of the energy of the fine band (Gaussian 0.5 minus Gaussian 1.5 pixels) to
    that of the fine and middle bands together (Gaussian 0.5 minus Gaussian 4). Blurring
    removes the fine band first, so the ratio falls with defocus whatever the brightness.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage as ndi
    >>> rng = np.random.default_rng(1)
    >>> sharp = (rng.random((128, 128)) > 0.97).astype(float)
    >>> focus_score(sharp) > focus_score(ndi.gaussian_filter(sharp, 3))
    True
    """
    return _focus(as_float_image(image))


def _focus(frame: np.ndarray) -> float:
    """:func:`focus_score` of a frame made float by :func:`as_float_image`."""
    base = gaussian(frame, 0.5)
    # squared norms of the differences, without the difference images
    energy = cv2.norm(base, gaussian(frame, 4.0), cv2.NORM_L2SQR)
    return (
        float(cv2.norm(base, gaussian(frame, 1.5), cv2.NORM_L2SQR) / energy) if energy > 0 else 0.0
    )


def _median_and_top(array: np.ndarray, frame: np.ndarray) -> tuple[float, float]:
    """Median and 99.9th percentile of `frame` (``np.percentile``, linear interpolation).

    For 8- and 16-bit frames the order statistics come from a histogram of the raw values
    (a percentile commutes with the linear scaling of :func:`as_float_image`), which avoids
    sorting a million pixels.
    """
    if array.dtype not in (np.uint8, np.uint16):
        median, top = np.percentile(frame, [50, 99.9])
        return float(median), float(top)
    array = np.ascontiguousarray(array)
    histogram = label_count(array, int(array.max()))
    low, high = int(np.flatnonzero(histogram)[0]), histogram.size - 1
    counts = np.cumsum(histogram)
    values = []
    for q in (50, 99.9):
        position = q / 100 * (array.size - 1)  # numpy's "linear" method
        below = int(np.floor(position))
        lo = int(np.searchsorted(counts, below, side="right"))
        hi = int(np.searchsorted(counts, below + 1, side="right"))
        raw = lo + (hi - lo) * (position - below)
        values.append((raw - low) / (high - low) if high > low else 0.0)
    return values[0], values[1]


def _saturation_level(array: np.ndarray, saturation_value):
    if saturation_value is not None:
        return saturation_value
    if array.dtype.kind in "ui":
        return np.iinfo(array.dtype).max
    return 1.0


def frame_qc(image, labels=None, *, saturation_value=None) -> dict:
    """Quality figures and flags of one frame.

    Parameters
    ----------
    image : (M, N) array
        The frame, any real dtype. Not modified.
    labels : (M, N) int array, optional
        Its nucleus labels; when given, ``empty`` means no nucleus was found.
    saturation_value : float, optional
        Pixel value of a saturated detector (e.g. 4095 for 12-bit data stored as 16-bit);
        default the dtype maximum for integers, 1.0 for floats.

    Returns
    -------
    dict
        ``focus`` (:func:`focus_score`), ``saturated_fraction`` (share of pixels at or above
        the saturation value), ``snr`` (99.9th percentile minus median, in noise deviations),
        and the flags ``out_of_focus`` (focus below :data:`FOCUS_MIN`), ``saturated``
        (fraction above :data:`SATURATED_MAX`), ``empty`` (no labels, or ``snr`` below
        :data:`EMPTY_SNR`; a constant frame is always empty) and ``blank`` (every pixel has
        the same value, so the frame holds no image at all: a failed acquisition written as
        zeros, say, where a real fluorescence frame always has a noisy background). A flat or
        empty frame is not flagged out of focus, as there is nothing to focus on.

    Examples
    --------
    >>> import numpy as np
    >>> qc = frame_qc(np.full((64, 64), 255, dtype=np.uint8))
    >>> qc["saturated"], qc["empty"], qc["out_of_focus"], qc["blank"]
    (True, True, False, True)
    """
    array = np.asarray(image)
    frame = as_float_image(array)  # also checks the shape and dtype
    return _frame_qc(array, frame, noise_sigma(frame), labels, saturation_value)


def _frame_qc(array, frame, noise, labels, saturation_value=None) -> dict:
    """:func:`frame_qc` of `array` with its float copy `frame` and its `noise` at hand."""
    level = _saturation_level(array, saturation_value)
    with np.errstate(invalid="ignore"):
        saturated = float(np.mean(array >= level))
    median, top = _median_and_top(array, frame)
    spread = float(top - median)
    snr = spread / noise if noise > 0 else (np.inf if spread > 0 else 0.0)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != array.shape:
            raise ValueError(
                f"`labels` must have the shape of `image` {array.shape}, got {labels.shape}"
            )
        empty = not bool(labels.max() > 0)
    else:
        empty = bool(snr < EMPTY_SNR)
    focus = _focus(frame)
    return {
        "focus": focus,
        "saturated_fraction": saturated,
        "snr": float(snr),
        "out_of_focus": bool(not empty and focus < FOCUS_MIN),
        "saturated": bool(saturated > SATURATED_MAX),
        "empty": bool(empty or spread == 0),
        # `frame` is scaled to [0, 1] by its own range: all zero exactly when it is constant
        "blank": bool(not cv2.minMaxLoc(frame)[1] > 0),
    }


def flag_count_jumps(
    counts_df: pd.DataFrame,
    *,
    by=("well", "field"),
    time: str = "elapsed_h",
    col: str = "count",
    threshold: float = 0.5,
    neighbours: int = 2,
) -> pd.Series:
    """Mark counts that jump against their neighbours in time.

    Within each group (`by`), rows are ordered by `time`; the reference of a count is the
    median of the window of up to `neighbours` counts before and after it and itself (a
    Hampel-type filter: one or two outliers in the window do not move the median). A count is
    flagged when ``(count + 1) / (reference + 1)`` is above ``1 + threshold`` or below
    ``1 / (1 + threshold)``: with the default, a frame that holds 50 % more, or a third fewer,
    cells than the frames around it. Cells divide at most about once a day and IncuCyte
    scans every few hours, so true changes between neighbouring frames are much smaller.
    A group with a single time point is never flagged; missing counts are not flagged.

    Parameters
    ----------
    counts_df : DataFrame
        Counts table with the `by`, `time` and `col` columns.
    by : sequence of str
        Columns naming one series (e.g. ``("well", "field")``); missing values form a group.
    time, col : str
        Time and count columns.
    threshold : float
        Relative jump that is flagged (0.5 = 50 %).
    neighbours : int
        How many time points on each side form the reference.

    Returns
    -------
    Series of bool
        Aligned on ``counts_df.index``, named ``count_jump``.

    Examples
    --------
    >>> import pandas as pd
    >>> counts = pd.DataFrame({"well": "B2", "field": 1, "elapsed_h": [0, 4, 8, 12, 16],
    ...                        "count": [100, 108, 30, 121, 130]})
    >>> flag_count_jumps(counts).tolist()
    [False, False, True, False, False]
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [name for name in [*by, time, col] if name not in counts_df.columns]
    if missing:
        raise ValueError(f"`counts_df` has no column {missing[0]!r}; it has {list(counts_df)}")
    if not threshold > 0:
        raise ValueError(f"`threshold` must be positive, got {threshold!r}")
    if int(neighbours) < 1:
        raise ValueError(f"`neighbours` must be at least 1, got {neighbours!r}")
    order = counts_df.sort_values([*by, time], kind="stable")
    values = pd.to_numeric(order[col], errors="coerce").astype(float)
    groups = values.groupby([order[name] for name in by], dropna=False, sort=False)
    shifted = [groups.shift(k) for k in range(-int(neighbours), int(neighbours) + 1)]
    reference = pd.concat(shifted, axis=1).median(axis=1, skipna=True)
    ratio = (values + 1) / (reference + 1)
    jump = (ratio > 1 + threshold) | (ratio < 1 / (1 + threshold))
    return jump.reindex(counts_df.index).fillna(False).astype(bool).rename("count_jump")
