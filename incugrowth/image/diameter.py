"""Estimate the typical nucleus diameter of a fluorescence frame from the frame itself."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from incugrowth.image._util import as_float_image, background, label_max

__all__ = ["estimate_diameter"]

#: Ratio of the equivalent diameter of a nucleus to the diameter of its largest inscribed
#: circle, for the typical aspect ratio of about 1.2 (an ellipse of axes a, b has equivalent
#: diameter 2 sqrt(ab) and inscribed diameter 2b).
ELONGATION = 1.1

#: Most refinement rounds: each subtracts the background and splits touching nuclei at the
#: scale found by the previous round; they stop once the estimate changes by less than 10 %.
ROUNDS = 4


def inscribed_diameter(mask: np.ndarray) -> float:
    """Area-weighted median over the objects of `mask` of their largest inscribed diameter.

    Touching nuclei form one object whose largest inscribed circle is still about one
    nucleus wide, and weighting by area keeps specks of debris from pulling the median down.
    Returns NaN when `mask` is empty.
    """
    labels, n = ndi.label(mask)
    if n == 0:
        return float("nan")
    radius = label_max(ndi.distance_transform_edt(mask), labels, n)[1:]
    area = np.bincount(labels.ravel())[1:]
    order = np.argsort(radius)
    weight = np.cumsum(area[order])
    return float(2 * radius[order][np.searchsorted(weight, weight[-1] / 2)])


def _diameter(smooth: np.ndarray) -> float:
    if smooth.max() <= smooth.min():
        return float("nan")
    # Uneven illumination or a dense cluster can make the first guess as large as the frame;
    # a nucleus is at most a quarter of the frame's smaller side.
    largest = min(smooth.shape) / 4
    diameter = min(inscribed_diameter(smooth > threshold_otsu(smooth)), largest)
    for _ in range(ROUNDS):
        if not np.isfinite(diameter) or diameter < 2:
            break
        flat = smooth - background(smooth, diameter)
        if flat.max() <= flat.min():
            return float("nan")
        # Keep pixels brighter than their surroundings at the current scale: this opens the
        # dim seams between touching nuclei that a global threshold closes.
        mask = (flat > threshold_otsu(flat)) & (flat > ndi.gaussian_filter(flat, diameter))
        previous, diameter = diameter, min(inscribed_diameter(mask), largest)
        if abs(diameter / previous - 1) < 0.1:
            break
    return diameter * ELONGATION


def estimate_diameter(image) -> float:
    """Estimate the typical nucleus diameter in pixels from the frame itself.

    The frame is lightly smoothed and thresholded (Otsu); the diameter is twice the
    area-weighted median of the largest inscribed radius of the objects (from the distance
    transform), which is about one nucleus wide even for clusters of touching nuclei. It is
    then refined until stable (at most four rounds): background under objects of that size
    is subtracted and pixels dimmer than their surroundings at that scale are dropped, which
    separates touching nuclei. The
    inscribed diameter is scaled by :data:`ELONGATION` to the equivalent diameter (diameter of
    the circle of the same area) of typical, slightly elongated nuclei.

    Parameters
    ----------
    image : (M, N) array
        Fluorescence frame with bright nuclei on a dark background, any real dtype.

    Returns
    -------
    float
        Equivalent diameter in pixels, NaN when the frame holds no objects (constant frame).

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.draw import disk
    >>> frame = np.zeros((120, 120), dtype=np.uint8)
    >>> for centre in [(30, 30), (30, 90), (90, 30), (90, 90)]:
    ...     frame[disk(centre, 10)] = 200
    >>> 17 < estimate_diameter(frame) < 25
    True
    >>> estimate_diameter(np.zeros((50, 50)))
    nan
    """
    image = as_float_image(image)
    return _diameter(ndi.gaussian_filter(image, 1.0))
