"""Percent of a phase-contrast frame covered by cells: local contrast above the dish's."""

from __future__ import annotations

import cv2
import numpy as np

from incugrowth.image._kernels import label_count, median_deviation
from incugrowth.image._util import as_float_image, gaussian

__all__ = [
    "dish_contrast",
    "dish_level",
    "measure_phase",
    "reference_dish_contrast",
    "local_contrast",
    "looks_like_phase_contrast",
    "phase_confluence",
    "phase_mask",
]

#: Lowest local contrast counted as cells, whatever the dish (PHANTAST's epsilon; a floor
#: for frames of almost no camera noise).
EPSILON = 0.01
#: The level counted as cells, in multiples of the dish's texture level (by default).
MIN_CONTRAST = 3.0
#: Highest dish contrast a frame is trusted to show by itself (no `dish` given): the
#: camera noise over the mean of a phase-contrast frame, about 0.006-0.01 on IncuCyte and
#: other phase cameras. A frame whose flattest part is rougher has no dish left in view.
DISH_CEILING = 0.012


def _raw_float(image) -> np.ndarray:
    """float32 copy of the frame on its own scale: the local contrast divides by the local
    mean, so the scale keeps its zero. Non-finite values become the frame minimum; a frame
    with negative values is shifted to start at 0."""
    as_float_image(np.asarray(image)[:2, :2] if np.ndim(image) == 2 else image)  # checks
    out = np.array(image, dtype=np.float32)
    if out.size == 0:
        raise ValueError(f"`image` is empty (shape {out.shape})")
    finite = np.isfinite(out)
    if not finite.all():
        out[~finite] = out[finite].min() if finite.any() else 0.0
    low = cv2.minMaxLoc(out)[0]
    if low < 0:
        out -= np.float32(low)
    return out


def local_contrast(image, scale: float = 1.5) -> np.ndarray:
    """Local standard deviation over local mean, in a Gaussian window of sigma `scale` px.

    The normalised local contrast of PHANTAST (Jaccard et al., Biotechnol Bioeng 2014):
    independent of the illumination and the camera gain, so one level tells the textured
    cells from the flat dish on any frame.

    Parameters
    ----------
    image : (M, N) array
        Phase-contrast frame, any real dtype. Not modified.
    scale : float
        Gaussian sigma of the window, in pixels.

    Returns
    -------
    (M, N) ndarray of float32

    Examples
    --------
    >>> import numpy as np
    >>> flat = np.full((50, 50), 100.0)
    >>> flat[::2] += 10  # stripes: a deviation of 5 around a mean of 105
    >>> round(float(local_contrast(flat, 3)[25, 25]), 3)
    0.048
    """
    if not scale > 0:
        raise ValueError(f"`scale` must be a positive number of pixels, got {scale!r}")
    frame = _raw_float(image)
    offset = np.float32(cv2.mean(frame)[0])
    frame -= offset  # the same variance, with less cancellation in float32
    mean = gaussian(frame, scale)
    variance = gaussian(cv2.multiply(frame, frame), scale)
    variance -= cv2.multiply(mean, mean)
    dev = cv2.sqrt(np.maximum(variance, 0.0, out=variance))
    mean += offset
    floor = np.float32(max(float(offset), 1e-12) * 1e-3)  # a black pixel: no contrast blow-up
    return dev / np.maximum(mean, floor)


def dish_contrast(image, *, scale: float = 1.5) -> float:
    """The dish's texture level in a frame: the local contrast of its flattest 2 %.

    Where some dish is visible (an early or sparse frame) this is the dish's own level, set
    by the camera noise; in a frame covered by cells it is the level of the flattest cells,
    higher. The well's (or plate's) reference is therefore taken from its frames with the
    most dish: see :func:`reference_dish_contrast`.

    Parameters
    ----------
    image : (M, N) array
        Phase-contrast frame, any real dtype. Not modified.
    scale : float
        Gaussian sigma of the local-contrast window, pixels.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> dish = 100 + 0.8 * rng.standard_normal((200, 200))  # noise: 0.8 % of the mean
    >>> 0.004 < dish_contrast(dish) < 0.008
    True
    """
    contrast = local_contrast(image, scale)
    return float(np.percentile(contrast[::2, ::2], 2.0))  # a regular sample is enough


def reference_dish_contrast(levels) -> float | None:
    """The dish level of a well (or plate) from the :func:`dish_contrast` of its frames.

    The frames showing the most dish have the lowest levels; the lower quartile of the
    levels is taken (robust to a blurred or blank frame below the others), or ``None`` when
    no level is a positive number.

    Examples
    --------
    >>> round(reference_dish_contrast([0.007, 0.0072, 0.0075, 0.02, 0.03, 0.031]), 6)
    0.007275
    """
    values = np.asarray([v for v in levels if v is not None], dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return None
    return float(np.percentile(values, 25.0))


def phase_mask(
    image,
    *,
    scale: float = 1.5,
    min_contrast: float = MIN_CONTRAST,
    dish: float | None = None,
) -> np.ndarray:
    """Boolean mask of the pixels covered by cells in a phase-contrast frame.

    Follows PHANTAST (Jaccard et al., Biotechnol Bioeng 2014): the normalised local
    contrast (:func:`local_contrast`, window sigma `scale`) is thresholded at a fixed
    level, and the halo corrected; no per-frame split of the pixels into classes. The level
    is `min_contrast` times the dish's texture level, and at least :data:`EPSILON`. The
    dish level is `dish` when given (the well's or plate's reference, measured on its
    frames where the dish is visible, see :func:`reference_dish_contrast`), else the
    frame's own :func:`dish_contrast`, at most :data:`DISH_CEILING` either way: a frame
    covered by cells has no dish to measure, and its flattest cells would raise the level
    and cut the sheet in half.

    Holes smaller than ``(4 scale)^2`` pixels are filled and objects as small removed.
    The halo correction then peels, from the outside in and for at
    most ``4 scale + 4`` pixels (the window's reach, about 3 sigma, and a halo's width),
    the border pixels that are not darker than the dish (the bright halo around cells, and
    the dish next to them that the window saw as textured); a cell's edge or body is dark in
    phase contrast and stops the peeling. The peeling also opens the gaps between the cells
    of a cluster (a gap is not filled as a hole before it). Holes left smaller than
    ``(4 scale)^2`` pixels are filled, and objects smaller than ``(6 scale)^2`` (debris)
    removed.

    Parameters
    ----------
    image : (M, N) array
        Phase-contrast frame, any real dtype. Not modified.
    scale : float
        Width (Gaussian sigma, pixels) of the local-contrast window.
    min_contrast : float
        The level counted as cells, in multiples of the dish's texture level.
    dish : float, optional
        The dish's texture level (:func:`dish_contrast` where the dish is visible).

    Returns
    -------
    (M, N) ndarray of bool
    """
    return _mask_and_level(image, scale, min_contrast, dish)[0]


def _mask_and_level(image, scale, min_contrast, dish) -> tuple[np.ndarray, float]:
    """:func:`phase_mask` and the frame's own :func:`dish_contrast` (NaN when blank)."""
    frame = _raw_float(image)
    if not frame.max() > frame.min():
        return np.zeros(frame.shape, dtype=bool), float("nan")
    contrast = local_contrast(frame, scale)
    own = float(np.percentile(contrast[::2, ::2], 2.0))  # as dish_contrast
    level = dish_level(own, dish)
    mask = (contrast > max(min_contrast * level, EPSILON)).view(np.uint8)
    mask = _fill_holes(mask, (4 * scale) ** 2)
    mask = _remove_small(mask, (4 * scale) ** 2)
    mask = _peel_halo(frame, mask, int(round(4 * scale)) + 4)
    mask = _fill_holes(mask, (4 * scale) ** 2)
    return _remove_small(mask, (6 * scale) ** 2).view(bool), own


def dish_level(own: float, dish: float | None = None) -> float:
    """The dish level :func:`phase_mask` uses: `dish` when it is a positive number, else
    the frame's own level `own`; at most :data:`DISH_CEILING` either way (a noisier dish
    would raise the level above the texture of cells as smooth as the simulator's; the
    halo peeling and debris removal clear the dish's noise instead).

    Examples
    --------
    >>> dish_level(0.02), dish_level(0.02, dish=0.007), dish_level(0.005, dish=0.03)
    (0.012, 0.007, 0.012)
    """
    if dish is not None and np.isfinite(dish) and dish > 0:
        return min(float(dish), DISH_CEILING)
    return min(float(own), DISH_CEILING)


def measure_phase(
    image, *, scale: float = 1.5, min_contrast: float = MIN_CONTRAST, dish: float | None = None
) -> dict:
    """The confluence of a phase frame and its own dish level, from one pass.

    Returns
    -------
    dict
        ``confluence`` (percent, as :func:`phase_confluence`) and ``dish_contrast`` (the
        frame's own :func:`dish_contrast`, NaN for a blank frame), so that a batch can take
        the well's dish level from its frames and measure again the frames it changes.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> frame = 0.5 + 0.004 * rng.standard_normal((200, 200))
    >>> frame[:, :100] += 0.1 * rng.standard_normal((200, 100))
    >>> m = measure_phase(frame)
    >>> 45 < m["confluence"] < 55, 0.004 < m["dish_contrast"] < 0.01
    (True, True)
    """
    mask, own = _mask_and_level(image, scale, min_contrast, dish)
    return {"confluence": float(100.0 * mask.mean()), "dish_contrast": own}


def _fill_holes(mask: np.ndarray, area: float) -> np.ndarray:
    """`mask` (uint8) with its holes (4-connected) smaller than `area` pixels filled."""
    n, holes = cv2.connectedComponents(1 - mask, connectivity=4, ltype=cv2.CV_32S)
    small = label_count(holes, n - 1) < area
    small[0] = False
    if small.any():
        mask = mask | np.take(small.view(np.uint8), holes)
    return mask


def _remove_small(mask: np.ndarray, area: float) -> np.ndarray:
    """`mask` (uint8) without its objects (8-connected) smaller than `area` pixels."""
    n, objects = cv2.connectedComponents(mask, connectivity=8, ltype=cv2.CV_32S)
    keep = label_count(objects, n - 1) >= area
    keep[0] = False
    return np.take(keep.view(np.uint8), objects)


def _peel_halo(frame: np.ndarray, mask: np.ndarray, steps: int) -> np.ndarray:
    """Peel from `mask` (uint8) the border pixels not darker than the dish, `steps` times.

    Dark: below the dish's grey level by 6 robust deviations (median and deviation of the
    lightly smoothed frame outside the mask); with less than 2 % of the frame outside (no
    dish, no halo) nothing is peeled."""
    outside = mask == 0
    if np.count_nonzero(outside) < 0.02 * mask.size:
        return mask
    smooth = gaussian(frame, 1.0)
    middle, mad = map(float, median_deviation(smooth[outside]))
    dark = (smooth < middle - 6.0 * 1.4826 * mad).view(np.uint8)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    for _ in range(steps):
        inner = cv2.erode(mask, cross, borderType=cv2.BORDER_CONSTANT, borderValue=1)
        peel = (mask - inner) & (1 - dark)  # border pixels that are not dark
        if not peel.any():
            break
        mask = mask - peel
    return mask


def phase_confluence(
    image, *, scale: float = 1.5, min_contrast: float = MIN_CONTRAST, dish: float | None = None
) -> float:
    """Percent of the frame area covered by cells, from a phase-contrast frame.

    See :func:`phase_mask` for the method and parameters; `dish` is the well's (or
    plate's) dish texture level, which keeps a confluent frame from being cut in half.

    Returns
    -------
    float
        Confluence in percent (0 to 100).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> frame = 0.5 + 0.004 * rng.standard_normal((200, 200))
    >>> frame[:, :100] += 0.1 * rng.standard_normal((200, 100))  # textured left half
    >>> 45 < phase_confluence(frame) < 55
    True
    """
    mask = phase_mask(image, scale=scale, min_contrast=min_contrast, dish=dish)
    return float(100.0 * mask.mean())


def looks_like_phase_contrast(image) -> bool:
    """Whether a frame looks like phase contrast rather than fluorescence.

    A fluorescence frame shows objects brighter than a dark background, and nothing darker:
    the frame less its background (a Gaussian of a twentieth of its smaller side, at least
    8 pixels), lightly smoothed (sigma 1 pixel), reaches far above its median and hardly
    below it. A phase-contrast frame shows cells both darker (their bodies, their rims) and
    brighter (their halos) than the grey dish. A frame is taken for phase contrast when

    - its skewness is below 0.75, the pixels more than 4 robust standard deviations below
      the background are at least half as many as those as far above, and together they are
      at least 0.5 % of the frame (sparse to half covered frames); or
    - it has structure (the robust deviation of the smoothed detail is at least 0.4 times
      that of the raw detail: white camera noise alone gives 0.28), a skewness below 6 (a
      few bright objects on a dark field give more), and either its skewness
      is negative (more dark than bright: never fluorescence) with at least 1 % of the
      pixels beyond 3 robust deviations (not noise), or its dark tail reaches at least half
      as far below the median as its bright tail above it (0.5 % and 99.5 % quantiles),
      with heavy tails (the two quantiles at least 12 robust deviations apart: cells with
      strong halos) or with the dark tail the longer of the two (at least 1.2 times: a
      confluent sheet, dark rims between cells and no dish left).

    A frame of noise alone, such as an empty well in either channel, is not phase contrast.

    Parameters
    ----------
    image : (M, N) array
        The frame, any real dtype. Not modified.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> dark = 0.05 + 0.005 * rng.standard_normal((200, 200))
    >>> fluorescence = dark.copy()
    >>> fluorescence[40:60, 40:60] = fluorescence[120:140, 100:120] = 0.8  # bright spots
    >>> looks_like_phase_contrast(fluorescence)
    False
    >>> yy, xx = np.indices((200, 200))
    >>> phase = 0.5 + 0.005 * rng.standard_normal((200, 200))  # a grey dish ...
    >>> for y, x in rng.uniform(10, 190, (30, 2)):
    ...     r = np.hypot(yy - y, xx - x)
    ...     phase[r < 6] = 0.35  # ... dark cell bodies ...
    ...     phase[(r >= 6) & (r < 7)] = 0.8  # ... in bright halos
    >>> looks_like_phase_contrast(phase)
    True
    """
    frame = as_float_image(image)
    if frame.ndim != 2 or frame.size < 64:
        return False
    sigma = max(8.0, min(frame.shape) / 20)
    back = gaussian(frame, sigma)
    detail = gaussian(frame, 1.0) - back
    sample = detail[::2, ::2].ravel()  # a regular sample is enough
    middle, mad = map(float, median_deviation(sample))
    spread = 1.4826 * mad
    if not spread > 0:
        return False
    wide = sample.astype(np.float64)
    deviation = wide - wide.mean()
    variance = float(np.mean(deviation**2))
    if not variance > 0:
        return False
    skewness = float(np.mean(deviation**3)) / variance**1.5
    below = np.count_nonzero(sample < middle - 4 * spread) / sample.size
    above = np.count_nonzero(sample > middle + 4 * spread) / sample.size
    if skewness < 0.75 and below >= 0.5 * above and below + above >= 0.005:
        return True
    raw = (frame - back)[::2, ::2].ravel()
    structure = mad / max(float(median_deviation(raw)[1]), 1e-12)
    if structure < 0.4 or skewness >= 6:  # noise, or a few bright objects on a dark field
        return False
    if skewness < 0:  # darker than the background more than brighter: never fluorescence
        tails = np.count_nonzero(np.abs(sample - middle) > 3 * spread) / sample.size
        if tails >= 0.01:
            return True
    low, high = np.percentile(wide, [0.5, 99.5])
    reach_below, reach_above = middle - float(low), float(high) - middle
    if not (reach_above > 0 and reach_below >= 0.5 * reach_above):
        return False
    return bool((high - low) >= 12 * spread or reach_below >= 1.2 * reach_above)
