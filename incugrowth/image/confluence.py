"""Percent of a phase-contrast frame covered by cells (texture-based foreground)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from incugrowth.image._util import as_float_image, noise_sigma, threshold_otsu

__all__ = ["phase_confluence", "phase_mask"]


def phase_mask(image, *, scale: float = 3.0, min_contrast: float = 3.0) -> np.ndarray:
    """Boolean mask of the pixels covered by cells in a phase-contrast frame.

    Cells in phase contrast are textured (bright halos, dark bodies, edges) while the empty
    well is flat, so the mask is where the local standard deviation, over a Gaussian window of
    `scale` pixels, stands out. The cut is Otsu's threshold on the logarithm of that local
    deviation, but never below `min_contrast` times the pixel noise (so a frame of empty
    medium gives an empty mask). Holes smaller than a few windows are filled, and the mask is
    eroded by ``scale + 1`` pixels, the distance by which the window spreads texture past
    the cell edge.

    Parameters
    ----------
    image : (M, N) array
        Phase-contrast frame, any real dtype. Not modified.
    scale : float
        Width (Gaussian sigma, pixels) of the window for the local deviation; about the
        thickness of a cell edge at 10x.
    min_contrast : float
        Lowest local deviation counted as texture, in multiples of the noise deviation.

    Returns
    -------
    (M, N) ndarray of bool
    """
    frame = as_float_image(image)
    if not scale > 0:
        raise ValueError(f"`scale` must be a positive number of pixels, got {scale!r}")
    mean = ndi.gaussian_filter(frame, scale)
    dev = np.sqrt(np.maximum(ndi.gaussian_filter(frame * frame, scale) - mean * mean, 0.0))
    floor = max(min_contrast * noise_sigma(frame), 1e-6)
    log_dev = np.log(np.maximum(dev, floor * 1e-2))
    if log_dev.max() <= log_dev.min():
        return np.zeros(frame.shape, dtype=bool)
    mask = dev > max(float(np.exp(threshold_otsu(log_dev))), floor)
    holes, n = ndi.label(~mask)
    if n:
        small = np.bincount(holes.ravel()) < (4 * scale) ** 2
        small[0] = False
        mask |= small[holes]
    return ndi.binary_erosion(mask, iterations=int(round(scale)) + 1, border_value=1)


def phase_confluence(image, *, scale: float = 3.0, min_contrast: float = 3.0) -> float:
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
