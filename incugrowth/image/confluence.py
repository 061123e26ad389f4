"""Percent of a phase-contrast frame covered by cells (texture-based foreground)."""

from __future__ import annotations

import cv2
import numpy as np

from incugrowth.image._kernels import bin_counts, label_count, median_deviation
from incugrowth.image._util import as_float_image, gaussian

__all__ = ["looks_like_phase_contrast", "phase_confluence", "phase_mask"]


def phase_mask(image, *, scale: float = 3.0, min_contrast: float = 2.0) -> np.ndarray:
    """Boolean mask of the pixels covered by cells in a phase-contrast frame.

    Cells in phase contrast are textured (bright halos, dark bodies, granular insides) while
    the empty dish is flat, so the mask is where the local standard deviation, over a
    Gaussian window of `scale` pixels, stands out. Its logarithm has three populations: the
    flat dish, the cell bodies and the strongest structures (halos, edges); the cut is the
    lower of the two three-class Otsu thresholds (between dish and cells, so that cell
    bodies count however strong their halos), but never below `min_contrast` times the
    deviation of the flattest 2 % of the frame (the dish: a frame of empty medium gives an
    empty mask). Holes smaller than a few windows are filled, and the mask is eroded by
    ``2 * scale + 1`` pixels, the distance by which the window spreads texture past the cell
    edge.

    Parameters
    ----------
    image : (M, N) array
        Phase-contrast frame, any real dtype. Not modified.
    scale : float
        Width (Gaussian sigma, pixels) of the window for the local deviation; about the
        thickness of a cell edge at 10x.
    min_contrast : float
        Lowest local deviation counted as texture, in multiples of that of the dish.

    Returns
    -------
    (M, N) ndarray of bool
    """
    from skimage.filters import threshold_multiotsu

    frame = as_float_image(image)
    if not scale > 0:
        raise ValueError(f"`scale` must be a positive number of pixels, got {scale!r}")
    # local variance E[x^2] - E[x]^2, of the frame less its mean (the same variance, with
    # less cancellation in float32)
    frame -= np.float32(cv2.mean(frame)[0])
    mean = gaussian(frame, scale)
    variance = gaussian(cv2.multiply(frame, frame), scale)
    variance -= cv2.multiply(mean, mean)
    dev = cv2.sqrt(np.maximum(variance, 0.0, out=variance))
    if not dev.max() > dev.min():
        return np.zeros(frame.shape, dtype=bool)
    dish = float(np.percentile(dev[::2, ::2], 2.0))  # a regular sample is enough
    floor = max(min_contrast * dish, 1e-6)
    log_dev = cv2.log(np.maximum(dev, np.float32(floor * 1e-2)))
    low, high = float(log_dev.min()), float(log_dev.max())
    if not high > low:
        return np.zeros(frame.shape, dtype=bool)
    # skimage's 256-bin histogram over the range, counted in one compiled pass
    edges = np.histogram_bin_edges(log_dev, bins=256, range=(low, high))
    counts = bin_counts(log_dev, edges)
    cut = threshold_multiotsu(hist=(counts, (edges[:-1] + edges[1:]) / 2.0), classes=3)[0]
    mask = (dev > max(float(np.exp(cut)), floor)).view(np.uint8)
    # holes (4-connected gaps, as scipy.ndimage.label) smaller than a few windows are filled
    n, holes = cv2.connectedComponents(1 - mask, connectivity=4, ltype=cv2.CV_32S)
    small = label_count(holes, n - 1) < (4 * scale) ** 2
    small[0] = False
    if small.any():
        mask |= np.take(small.view(np.uint8), holes)
    # erosion by a cross, `2 scale + 1` times, nothing eroded from beyond the frame's edge
    # (scipy.ndimage.binary_erosion(mask, iterations=..., border_value=1))
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    eroded = cv2.erode(
        mask, cross, iterations=int(round(2 * scale)) + 1, borderType=cv2.BORDER_CONSTANT,
        borderValue=1,
    )  # fmt: skip
    return eroded.view(bool)


def phase_confluence(image, *, scale: float = 3.0, min_contrast: float = 2.0) -> float:
    """Percent of the frame area covered by cells, from a phase-contrast frame.

    See :func:`phase_mask` for the method and parameters.

    Returns
    -------
    float
        Confluence in percent (0 to 100).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> frame = 0.5 + 0.01 * rng.standard_normal((200, 200))
    >>> frame[:, :100] += 0.2 * rng.standard_normal((200, 100))  # textured left half
    >>> 45 < phase_confluence(frame) < 55
    True
    """
    return float(100.0 * phase_mask(image, scale=scale, min_contrast=min_contrast).mean())


def looks_like_phase_contrast(image) -> bool:
    """Whether a frame looks like phase contrast rather than fluorescence.

    A fluorescence frame shows objects brighter than a dark background, and nothing darker:
    the frame less its background (a Gaussian of a twentieth of its smaller side, at least
    8 pixels) is strongly right-skewed. A phase-contrast frame shows cells both darker
    (their bodies) and brighter (their halos) than the grey dish: the skewness is near
    zero, and about as many pixels lie far below the background as far above it. A frame
    is taken for phase contrast when the skewness is below 0.75, the pixels more than 4
    robust standard deviations below the background are at least half as many as those as
    far above, and together they are at least 0.5 % of the frame (a frame of noise alone,
    such as an empty well in either channel, is not phase contrast).

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
    detail = gaussian(frame, 1.0) - gaussian(frame, sigma)
    sample = detail[::2, ::2].ravel()  # a regular sample is enough
    middle, mad = map(float, median_deviation(sample))
    spread = 1.4826 * mad
    sample = sample.astype(np.float64)
    deviation = sample - sample.mean()
    variance = float(np.mean(deviation**2))
    if not (spread > 0 and variance > 0):
        return False
    skewness = float(np.mean(deviation**3)) / variance**1.5
    below = np.count_nonzero(sample < middle - 4 * spread) / sample.size
    above = np.count_nonzero(sample > middle + 4 * spread) / sample.size
    return bool(skewness < 0.75 and below >= 0.5 * above and below + above >= 0.005)
