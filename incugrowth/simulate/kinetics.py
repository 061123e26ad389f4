"""Growth kinetics of the simulated wells and their true nucleus counts per field and time."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthError
from incugrowth.simulate._common import (
    _STREAM_COUNT,
    _STREAM_FIELD,
    _STREAM_WELL,
    REFERENCE_SHAPE,
    _check_shape,
    _check_times,
    _minute,
    _rng,
    _well_code,
)
from incugrowth.simulate.designs import _PLATE_COLUMNS, Design, get_design

RATE_SD = 0.05  # lognormal SD of the growth rate between replicate wells
SEEDING_SD = 0.15  # lognormal SD of the seeding between wells and fields
OUT_OF_FOCUS_RATE = 0.02  # share of frames that are out of focus


def _cumulative_rate(t: np.ndarray, rate: float, lag: float, onset: float, effect: float):
    def ramp(x):
        x = np.asarray(x, dtype=float)
        if lag <= 0:
            return rate * x
        return rate * (x - lag * (1.0 - np.exp(-x / lag)))

    full = ramp(t)
    return full - effect * np.maximum(0.0, full - ramp(max(onset, 0.0)))


def _logistic(t, n0, capacity, rate, lag, onset, effect):
    growth = _cumulative_rate(t, rate, lag, onset, effect)
    return capacity / (1.0 + (capacity / n0 - 1.0) * np.exp(-growth))


def _seeded(seed: int, code: int, field_: int, seeding: float) -> float:
    """Expected nuclei at plating in one field: the design's seeding times a lognormal factor."""
    return seeding * math.exp(SEEDING_SD * _rng(seed, _STREAM_FIELD, code, field_).normal())


def simulate_counts(
    design: str | Design = "fig4",
    *,
    seed: int = 0,
    times: Sequence[float] | None = None,
    fields: int = 1,
    frame_shape: tuple[int, int] = REFERENCE_SHAPE,
) -> pd.DataFrame:
    """True nucleus counts per well, field and time from a design's kinetics (no rendering).

    Parameters
    ----------
    design : str or Design
        A registered design name (``"fig4"``, ``"doses"``), a CSV design table, or a Design.
    seed : int
        Random seed; the same seed gives the same counts, whatever the time grid (each well,
        field and time draws from its own child seed).
    times : sequence of float, optional
        Elapsed hours; default every 4 h from 0 to 96 h.
    fields : int
        Images (fields) per well.
    frame_shape : (height, width)
        Frame size; counts scale with its area relative to 1408 x 1040.

    Returns
    -------
    DataFrame
        ``well``, ``field``, ``elapsed_h``, ``count`` (the true number of nuclei in the
        frame), ``expected`` (the kinetic model's mean), ``out_of_focus`` (the frame is
        rendered blurred), then the plate-map columns ``cell_line``, ``treatment``, ``dose``,
        ``dose_unit``, ``control`` and ``replicate``.

    Examples
    --------
    >>> c = simulate_counts("fig4", seed=0, times=[0, 72])
    >>> len(c), c.columns[:5].tolist()
    (180, ['well', 'field', 'elapsed_h', 'count', 'expected'])
    >>> w = c[c["well"] == "D1"].set_index("elapsed_h")["count"]  # M407 untreated
    >>> bool(3.0 < w[72.0] / w[0.0] < 7.0)
    True
    """
    d = get_design(design)
    t = _check_times(times)
    h, w = _check_shape(frame_shape, "frame_shape")
    if int(fields) < 1:
        raise IncugrowthError(f"fields must be at least 1, got {fields}")
    area = (h * w) / (d.reference_shape[0] * d.reference_shape[1])

    blocks = []
    for row in d.wells.itertuples(index=False):
        code = _well_code(row.well)
        rate = row.rate_per_h * math.exp(RATE_SD * _rng(seed, _STREAM_WELL, code).normal())
        for f in range(1, int(fields) + 1):
            n0 = _seeded(seed, code, f, row.seeding * area)
            mu = _logistic(t, n0, row.capacity * area, rate, row.lag_h, row.onset_h, row.effect)
            count = np.empty(len(t), dtype=np.int64)
            blur = np.empty(len(t), dtype=bool)
            for k, tk in enumerate(t):
                g = _rng(seed, _STREAM_COUNT, code, f, _minute(tk))
                count[k] = g.poisson(mu[k])
                blur[k] = g.random() < OUT_OF_FOCUS_RATE
            blocks.append(
                pd.DataFrame(
                    {
                        "well": row.well,
                        "field": f,
                        "elapsed_h": t,
                        "count": count,
                        "expected": mu,
                        "out_of_focus": blur,
                    }
                )
            )
    counts = pd.concat(blocks, ignore_index=True)
    meta = d.wells[[*_PLATE_COLUMNS, "replicate"]]
    return counts.merge(meta, on="well", how="left", validate="many_to_one")
