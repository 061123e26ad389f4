"""Growth kinetics of the simulated wells and their true nucleus counts per field and time."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthError
from incugrowth.simulate._common import (
    _STREAM_COUNT,
    _STREAM_DEAD,
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


#: Time step (h) of the integral of killing over the live count; a fixed grid from 0, so the
#: dead count at a time does not depend on the times asked for.
_DEAD_STEP_H = 0.05


def _dead_expected(t, n0, capacity, rate, lag, onset, effect, background, kill):
    """Expected dead cells at times `t`: the background share of all cells, plus those
    killed from the onset on (``kill`` per live cell and hour), which stay labelled."""
    live = _logistic(t, n0, capacity, rate, lag, onset, effect)
    dead = live * background / (1.0 - background)
    if kill > 0 and len(t):
        grid = np.arange(0.0, float(np.max(t)) + 2 * _DEAD_STEP_H, _DEAD_STEP_H)
        flux = kill * _logistic(grid, n0, capacity, rate, lag, onset, effect) * (grid >= onset)
        killed = np.concatenate([[0.0], np.cumsum((flux[1:] + flux[:-1]) * _DEAD_STEP_H / 2)])
        dead = dead + np.interp(t, grid, killed)
    return dead


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
        rendered blurred), ``dead`` and ``dead_expected`` (the dead cells, as ``count`` and
        ``expected`` the live ones), then the plate-map columns ``cell_line``,
        ``treatment``, ``dose``, ``dose_unit``, ``control`` and ``replicate``.

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
            dead_mu = _dead_expected(
                t, n0, row.capacity * area, rate, row.lag_h, row.onset_h, row.effect,
                row.background_dead, row.kill_rate_per_h,
            )  # fmt: skip
            count = np.empty(len(t), dtype=np.int64)
            dead = np.empty(len(t), dtype=np.int64)
            blur = np.empty(len(t), dtype=bool)
            for k, tk in enumerate(t):
                g = _rng(seed, _STREAM_COUNT, code, f, _minute(tk))
                count[k] = g.poisson(mu[k])
                blur[k] = g.random() < OUT_OF_FOCUS_RATE
                dead[k] = _rng(seed, _STREAM_DEAD, code, f, _minute(tk)).poisson(dead_mu[k])
            blocks.append(
                pd.DataFrame(
                    {
                        "well": row.well,
                        "field": f,
                        "elapsed_h": t,
                        "count": count,
                        "expected": mu,
                        "out_of_focus": blur,
                        "dead": dead,
                        "dead_expected": dead_mu,
                    }
                )
            )
    counts = pd.concat(blocks, ignore_index=True)
    meta = d.wells[[*_PLATE_COLUMNS, "replicate"]]
    return counts.merge(meta, on="well", how="left", validate="many_to_one")


#: Metric name of the simulated dead-cell export (``export_green_count.txt``).
DEAD_METRIC = "Green Object Count (Per Image)"

#: Kill rates (per live cell and hour, above the control's) from which a treatment is
#: cytotoxic in truth, and up to which it kills nothing; growth effects (the share of the
#: control's growth rate removed) from which it is cytostatic, and up to which it has none.
#: Treatments in between have no expected verdict.
TRUE_KILL_RATE = (0.0005, 0.005)
TRUE_GROWTH_EFFECT = (0.1, 0.5)


def true_effects(design: str | Design = "fig4", *, control: str = "untreated") -> pd.DataFrame:
    """The true effect of each treatment against its control, and the verdict it should get.

    Returns
    -------
    DataFrame
        One row per cell line, treatment and dose (controls left out): ``control``,
        ``effect`` (share of the control's growth rate removed, ``1 - (1 - e) / (1 - e_c)``),
        ``kill_rate_per_h`` (above the control's) and ``verdict``: ``cytotoxic`` (kill rate
        at least :data:`TRUE_KILL_RATE` [1]), ``cytostatic`` (no kill and an effect of at
        least :data:`TRUE_GROWTH_EFFECT` [1]), ``no effect`` (neither kill nor an effect
        above :data:`TRUE_GROWTH_EFFECT` [0]) or empty (in between).

    Examples
    --------
    >>> t = true_effects("fig4").set_index(["cell_line", "treatment"])["verdict"]
    >>> t["M407", "IFN gamma"], t["M407", "2'3'-cGAMP"], t["M407 JAK1-KO", "IFN alfa"]
    ('cytostatic', 'cytotoxic', 'no effect')
    """
    d = get_design(design)
    keys = ["cell_line", "treatment", "dose"]
    conditions = d.wells.groupby(keys, dropna=False, sort=False).agg(
        control=("control", "first"),
        effect=("effect", "mean"),
        kill_rate_per_h=("kill_rate_per_h", "mean"),
    )
    conditions = conditions.reset_index()
    conditions["control"] = conditions["control"].replace("", control)
    base = conditions.groupby(["cell_line", "treatment"], sort=False)[
        ["effect", "kill_rate_per_h"]
    ].mean()
    out = conditions[conditions["treatment"] != control].copy()
    ref = base.reindex(list(zip(out["cell_line"], out["control"])))
    out["effect"] = 1.0 - (1.0 - out["effect"].to_numpy()) / (1.0 - ref["effect"].to_numpy())
    out["kill_rate_per_h"] = out["kill_rate_per_h"].to_numpy() - ref["kill_rate_per_h"].to_numpy()
    no_kill, kills = TRUE_KILL_RATE
    no_effect, slows = TRUE_GROWTH_EFFECT
    kill, effect = out["kill_rate_per_h"], out["effect"]
    out["verdict"] = np.select(
        [
            kill >= kills,
            (kill <= no_kill) & (effect >= slows),
            (kill <= no_kill) & (effect <= no_effect),
        ],
        ["cytotoxic", "cytostatic", "no effect"],
        default="",
    )
    out[["effect", "kill_rate_per_h"]] = out[["effect", "kill_rate_per_h"]].round(6)
    return out.reset_index(drop=True)
