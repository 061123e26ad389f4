"""Shared by the simulator modules: frame and time defaults, seeded random streams, checks."""

from __future__ import annotations

import numpy as np

from incugrowth.errors import IncugrowthError

#: Frame shape (height, width) that seeding densities and capacities refer to (S3/SX5, 10x).
REFERENCE_SHAPE = (1040, 1408)
#: Default time grid: every 4 h from 0 to 96 h.
DEFAULT_TIMES = tuple(float(t) for t in range(0, 97, 4))

_STREAM_WELL, _STREAM_FIELD, _STREAM_COUNT, _STREAM_LAYOUT, _STREAM_FRAME, _STREAM_PLATE = range(6)
# The dead-cell channel draws from streams of its own, so the live channel is as without it.
_STREAM_DEAD, _STREAM_DEAD_FRAME = 6, 7
#: Added to a well's code for the layout of its dead cells (a layout stream of its own).
_DEAD_LAYOUT_CODE = 100_000


def _well_code(well: str) -> int:
    return (ord(well[0]) - 64) * 100 + int(well[1:])


def _minute(t: float) -> int:
    return int(round(float(t) * 60.0))


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


def _check_times(times) -> np.ndarray:
    t = np.asarray(DEFAULT_TIMES if times is None else list(times), dtype=float)
    if t.ndim != 1 or len(t) == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise IncugrowthError("times must be a non-empty list of hours >= 0")
    t = np.unique(np.round(t, 6))
    return t


def _check_shape(shape, what: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise IncugrowthError(f"{what} must be (height, width), got {shape!r}") from None
    if h < 32 or w < 32:
        raise IncugrowthError(
            f"{what} must be at least 32 x 32 pixels, got {w} x {h} (width x height)"
        )
    return h, w
