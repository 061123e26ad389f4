"""Quality control of frames (focus, saturation, empty) and of count series (jumps)."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from incugrowth.image._kernels import label_count
from incugrowth.image._util import as_float_image, gaussian, gaussian_kernel, noise_sigma

__all__ = [
    "EMPTY_SNR",
    "FOCUS_DROP",
    "FOCUS_MIN",
    "SATURATED_MAX",
    "flag_count_jumps",
    "flag_focus_drops",
    "focus_score",
    "frame_qc",
]

#: A frame whose focus score is below this is flagged ``out_of_focus``. Of 265 sharp
#: fluorescence images of nuclei 7 to 50 px across (several instruments and
#: magnifications) none scores below 0.05 (1 % below 0.062); the same images blurred by a
#: Gaussian of 0.3 nucleus diameters score 0.027 to 0.047.
FOCUS_MIN = 0.045
#: Within a series of frames of one place (a well's fields over time), a frame whose focus
#: score is below this fraction of the series' median is flagged ``out_of_focus`` (see
#: :func:`flag_focus_drops`): the texture of the nuclei, which sets the score of sharp
#: frames, is the same there, so a defocused scan stands out where no threshold for all
#: cell lines and instruments would see it.
FOCUS_DROP = 0.75

#: Nucleus diameter (pixels) for which the bands of :func:`focus_score` are set; for larger
#: nuclei they widen in proportion.
FOCUS_DIAMETER = 12.0
#: A frame with more than this fraction of saturated pixels is flagged ``saturated``.
SATURATED_MAX = 0.01
#: A frame whose brightest structures stand less than this many noise deviations above the
#: median is flagged ``empty`` (when no labels are given).
EMPTY_SNR = 5.0


def focus_score(image, diameter: float | None = None) -> float:
    """Share of fine detail in the frame's structure: 0 (blurred) to 1 (sharp).

    The ratio of the energy of the fine band (Gaussian ``0.5 k`` minus Gaussian ``1.5 k``
    pixels) to that of the fine and middle bands together (Gaussian ``0.5 k`` minus Gaussian
    ``4 k``), with ``k`` the nucleus `diameter` over :data:`FOCUS_DIAMETER` (at least 1), so
    that sharp large nuclei score as sharp small ones do. Blurring removes the fine band
    first, so the ratio falls with defocus whatever the brightness. The energy that the
    pixel noise (deviation ``s``, :func:`~incugrowth.image._util.noise_sigma`) puts in each
    band, ``s**2`` times the number of pixels times the sum of the squared weights of the
    band's filter, is taken out first: noise is not blurred with the image, and left in it
    would make a defocused frame look sharper than a sharp one.

    Parameters
    ----------
    image : (M, N) array
        The frame, any real dtype. Not modified.
    diameter : float, optional
        Nucleus diameter in pixels; without it the bands are those of
        :data:`FOCUS_DIAMETER`.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage as ndi
    >>> rng = np.random.default_rng(1)
    >>> sharp = ndi.gaussian_filter((rng.random((128, 128)) > 0.97).astype(float), 1.0)
    >>> blurred = ndi.gaussian_filter(sharp, 3)
    >>> noise = 0.002 * rng.standard_normal((128, 128))  # camera noise, not blurred
    >>> focus_score(sharp + noise) > 3 * focus_score(blurred + noise)
    True
    """
    frame = as_float_image(image)
    return _focus(frame, noise_sigma(frame), diameter)


def _band_noise(low: float, high: float) -> float:
    """Sum of the squared weights of the 2-D filter ``G(low) - G(high)`` (Gaussians of
    :func:`~incugrowth.image._util.gaussian`, kernels to 4 sigma): the energy per pixel
    that white noise of unit variance leaves in that band."""
    (a, _), (b, _) = gaussian_kernel(low), gaussian_kernel(high)
    pad = (b.size - a.size) // 2
    a = np.pad(a, pad)
    return float((a @ a) ** 2 + (b @ b) ** 2 - 2 * (a @ b) ** 2)


def _focus(frame: np.ndarray, noise: float, diameter: float | None = None) -> float:
    """:func:`focus_score` of a frame made float by :func:`as_float_image`, with its
    `noise` deviation at hand."""
    k = 1.0
    if diameter is not None and np.isfinite(diameter):
        k = max(1.0, float(diameter) / FOCUS_DIAMETER)
    fine, middle, coarse = 0.5 * k, 1.5 * k, 4.0 * k
    base = gaussian(frame, fine)
    # squared norms of the differences, without the difference images, less the noise's
    per_pixel = frame.size * noise**2
    energy = cv2.norm(base, gaussian(frame, coarse), cv2.NORM_L2SQR)
    energy -= per_pixel * _band_noise(fine, coarse)
    if not energy > 0:
        return 0.0
    detail = cv2.norm(base, gaussian(frame, middle), cv2.NORM_L2SQR)
    detail -= per_pixel * _band_noise(fine, middle)
    return float(min(max(detail / energy, 0.0), 1.0))


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


def frame_qc(image, labels=None, *, saturation_value=None, diameter=None) -> dict:
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
    diameter : float, optional
        Nucleus diameter in pixels, for the scale of :func:`focus_score`.

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
    return _frame_qc(array, frame, noise_sigma(frame), labels, saturation_value, diameter)


def _frame_qc(array, frame, noise, labels, saturation_value=None, diameter=None) -> dict:
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
    focus = _focus(frame, noise, diameter)
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
    doubling_h: float = 20.0,
) -> pd.Series:
    """Mark counts that spike or drop against their neighbours in time.

    Within each group (`by`), counts are ordered by `time` and missing counts are skipped;
    counts are compared as ``count + 1`` (so that 0 is usable). With ``f = 1 + threshold``
    (the noise a count may carry) and growth of at most one doubling every `doubling_h`
    hours, a count is flagged when:

    - between two neighbours (the nearest counts before and after it, ``a`` and ``b`` hours
      away): it is more than ``f`` times above both of them or below both of them, *and* more
      than ``f * 2 ** (a * b / ((a + b) * doubling_h))`` times away from the interpolation of
      the two in log space (linear in time). The interpolation is exact for exponential
      growth or decline at any rate; the power of 2 is the most that a change of growth rate
      between none and one doubling every `doubling_h` hours bends the curve there (a
      factor of 1.52 for neighbours 24 h away on both sides, 1.04 for 2 h). Steady growth
      or decline, which is never above or below both neighbours, is never flagged;
    - at either end of the series: it is more than ``f`` times above both of the two nearest
      counts or below both, *and* more than ``f * 2 ** (gap / doubling_h)`` times away from
      the extrapolation of the two in log space (``gap``: hours to the nearer). The power of
      2 is, as above, the most that a change of growth rate bends the curve over the gap.

    A series with fewer than three counts is never flagged; missing counts are not flagged.
    With the defaults, at 4 h spacing a count is flagged when it is 50 % above both
    neighbours and 61 % above their trend (or a third below both and 38 % below the trend);
    at 24 h spacing, 2.3 times above or below the trend.

    Parameters
    ----------
    counts_df : DataFrame
        Counts table with the `by`, `time` and `col` columns.
    by : sequence of str
        Columns naming one series (e.g. ``("well", "field")``); missing values form a group.
    time, col : str
        Time (hours) and count columns.
    threshold : float
        Relative difference that noise alone may cause (0.5 = 50 %).
    doubling_h : float
        Shortest doubling time (hours) of the cells: the fastest growth that is not a jump.

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
    >>> daily = pd.DataFrame({"well": "B2", "field": 1, "elapsed_h": [0, 24, 48, 72, 96],
    ...                       "count": [8, 9, 18, 35, 66]})  # growing, doubling in ~24 h
    >>> flag_count_jumps(daily).tolist()
    [False, False, False, False, False]
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [name for name in [*by, time, col] if name not in counts_df.columns]
    if missing:
        raise ValueError(f"`counts_df` has no column {missing[0]!r}; it has {list(counts_df)}")
    if not threshold > 0:
        raise ValueError(f"`threshold` must be positive, got {threshold!r}")
    if not doubling_h > 0:
        raise ValueError(f"`doubling_h` must be a positive number of hours, got {doubling_h!r}")
    values = pd.to_numeric(counts_df[col], errors="coerce").astype(float)
    hours = pd.to_numeric(counts_df[time], errors="coerce").astype(float)
    known = values.notna() & hours.notna()
    frame = counts_df.loc[known, by].assign(_t=hours[known], _v=np.log1p(values[known]))
    order = frame.sort_values([*by, "_t"], kind="stable")
    groups = order.groupby(by, dropna=False, sort=False)
    t, v = order["_t"], order["_v"]
    noise, rate = np.log1p(threshold), np.log(2.0) / doubling_h

    def neighbour(k):  # the k-th nearest count before (k < 0) or after (k > 0): gap, log diff
        return (t - groups["_t"].shift(-k)).abs(), v - groups["_v"].shift(-k)

    (a, da), (b, db) = neighbour(-1), neighbour(1)
    (a2, da2), (b2, db2) = neighbour(-2), neighbour(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        # interior: beyond both neighbours in one direction, and off their log-linear trend
        span = a + b
        off = np.where(span > 0, (b * da + a * db) / span, (da + db) / 2)
        bend = np.where(span > 0, a * b / span, 0.0) * rate
        spike = (da > noise) & (db > noise)
        drop = (da < -noise) & (db < -noise)
        interior = (spike | drop) & (np.abs(off) > noise + bend)
        # ends: beyond the two nearest counts on the one side, and off their trend
        first = a.isna() & _off_end(db, db2, b, b2, noise, rate)
        last = b.isna() & _off_end(da, da2, a, a2, noise, rate)
    jump = pd.Series(np.asarray(interior | first | last, dtype=bool), index=order.index)
    return jump.reindex(counts_df.index, fill_value=False).astype(bool).rename("count_jump")


def flag_focus_drops(
    frames_df: pd.DataFrame,
    *,
    by=("well",),
    col: str = "focus",
    drop: float = FOCUS_DROP,
    min_frames: int = 4,
) -> pd.Series:
    """Mark frames much less sharp than the other frames of their place.

    Within each group (`by`: by default a well, all its fields and times), a frame whose
    focus score (:func:`focus_score`) is below `drop` times the group's median is flagged.
    The score of a sharp frame depends on the texture of the nuclei, which differs between
    cell lines and instruments but hardly within a well, so an out-of-focus scan stands out
    there even when its score is above :data:`FOCUS_MIN`. Groups with fewer than
    `min_frames` scores are not judged; missing scores are not flagged.

    Returns
    -------
    Series of bool
        Aligned on ``frames_df.index``, named ``focus_drop``.

    Examples
    --------
    >>> import pandas as pd
    >>> frames = pd.DataFrame({"well": "B2", "focus": [0.085, 0.09, 0.05, 0.082, 0.088]})
    >>> flag_focus_drops(frames).tolist()
    [False, False, True, False, False]
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [name for name in [*by, col] if name not in frames_df.columns]
    if missing:
        raise ValueError(f"`frames_df` has no column {missing[0]!r}; it has {list(frames_df)}")
    if not 0 < drop < 1:
        raise ValueError(f"`drop` must be between 0 and 1, got {drop!r}")
    score = pd.to_numeric(frames_df[col], errors="coerce").astype(float)
    groups = score.groupby([frames_df[name] for name in by], dropna=False, sort=False)
    median = groups.transform("median")
    enough = groups.transform("count") >= min_frames
    flagged = enough & score.notna() & (score < drop * median)
    return flagged.astype(bool).rename("focus_drop")


def _off_end(d1, d2, g1, g2, noise, rate):
    """End counts of :func:`flag_count_jumps`: `d1`, `d2` log differences from the nearest
    and second-nearest counts, `g1`, `g2` the gaps to them (hours)."""
    span = g2 - g1
    off = np.where(span > 0, d1 + (d1 - d2) * g1 / span, (d1 + d2) / 2)
    beyond = ((d1 > noise) & (d2 > noise)) | ((d1 < -noise) & (d2 < -noise))
    return beyond & (np.abs(off) > noise + g1 * rate)
