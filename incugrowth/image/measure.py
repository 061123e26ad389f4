"""One call per frame for batch counting: count, diameter, nucleus area and QC."""

from __future__ import annotations

import os

import numpy as np

from incugrowth.image._kernels import label_count
from incugrowth.image._util import as_float_image, noise_sigma
from incugrowth.image.diameter import _diameter
from incugrowth.image.nuclei import _segment_frame, segment_nuclei
from incugrowth.image.qc import _frame_qc

__all__ = ["compiled_loops_cached", "measure_frame", "prepare"]


def measure_frame(image, *, diameter=None, segmenter=None) -> dict:
    """Count the nuclei of one frame and describe it, in one picklable call.

    Parameters
    ----------
    image : (M, N) array
        Fluorescence frame, any real dtype. Not modified.
    diameter : float, optional
        Nucleus diameter in pixels; estimated from the frame when None.
    segmenter : callable, optional
        Replaces the built-in segmenter, as in :func:`segment_nuclei`. It must be picklable
        (a module-level function or a :func:`functools.partial` of one) to run in a
        process pool.

    Returns
    -------
    dict
        ``count``; ``diameter`` (pixels used by the built-in segmenter, or the one given,
        NaN when neither applies); ``mean_area`` (mean nucleus area in pixels, NaN without
        nuclei); and the fields of :func:`frame_qc`.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.draw import disk
    >>> frame = np.zeros((80, 80), dtype=np.uint16)
    >>> frame[disk((20, 20), 6)] = 1000
    >>> frame[disk((55, 50), 6)] = 1000
    >>> result = measure_frame(frame)
    >>> result["count"], result["empty"], result["saturated"]
    (2, False, False)
    """
    array = np.asarray(image)
    frame = as_float_image(array)  # once for the segmenter and the QC, as is the noise
    noise = noise_sigma(frame)
    if segmenter is not None:
        labels = segment_nuclei(array, segmenter=segmenter)
    elif diameter is None:
        diameter = _diameter(frame)
        labels = (
            _segment_frame(frame, diameter, {}, sigma=noise)
            if np.isfinite(diameter)
            else np.zeros(frame.shape, dtype=np.int32)
        )
    else:
        labels = _segment_frame(frame, diameter, {}, sigma=noise)
    areas = label_count(labels, int(labels.max()))[1:]
    areas = areas[areas > 0]
    return {
        "count": int(areas.size),
        "diameter": float(diameter) if diameter is not None else float("nan"),
        "mean_area": float(areas.mean()) if areas.size else float("nan"),
        **_frame_qc(array, frame, noise, labels, diameter=diameter if segmenter is None else None),
    }


def prepare(kind: str = "nuclei") -> None:
    """Make the compiled loops of the built-in measurement ready in this process.

    They are compiled with numba the first time a new installation uses them (about 20 s)
    and loaded from numba's disk cache afterwards (under a second). Batch counting calls
    this once before its worker processes start, so that a first run compiles once rather
    than once per worker (each compiling process takes about 500 MB), and workers forked
    afterwards start ready. Small synthetic frames are measured: a sparse and a crowded
    one, 8- and 16-bit (``kind="confluence"``: phase confluence of one).
    """
    from incugrowth.image.confluence import phase_confluence

    yy, xx = np.mgrid[:128, :128]
    sparse = [(30, 30), (30, 42), (80, 90), (100, 40), (60, 64)]  # one touching pair
    crowded = [(y, x) for y in range(8, 124, 9) for x in range(8, 124, 9)]
    for centres in (sparse, crowded):
        frame = sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 18.0) for y, x in centres)
        frame = 0.05 + 0.9 * frame / frame.max()
        for dtype in (np.uint8, np.uint16):
            image = (frame * np.iinfo(dtype).max).astype(dtype)
            if kind == "confluence":
                phase_confluence(image)
            else:
                measure_frame(image)


def compiled_loops_cached() -> bool | None:
    """Whether numba's disk cache holds the compiled loops for this installation and its
    current source (True: loading them takes under a second; False: the first use compiles
    them, about 25 s), or None when this cannot be told.

    Examples
    --------
    >>> compiled_loops_cached() in (True, False, None)
    True
    """
    try:
        from numba.core.registry import CPUDispatcher

        from incugrowth.image import _kernels

        found = False
        for loop in vars(_kernels).values():
            if not isinstance(loop, CPUDispatcher):
                continue
            cache_file = getattr(loop._cache, "_cache_file", None)
            if cache_file is None:  # no disk cache: every process compiles
                return False
            # helpers compiled into their callers have no cache file of their own
            if not os.path.exists(cache_file._index_path):
                continue
            if not cache_file._load_index():  # made from another version of the source
                return False
            found = True
        return found
    except Exception:  # numba's cache layout is internal: when it changes, say nothing
        return None
