"""Plate simulator: an IncuCyte growth-inhibition experiment with known truth.

A *design* is a table of wells (cell line, treatment, dose, replicate) with the growth kinetics
of each well. :func:`simulate_counts` turns it into true nucleus counts per well, field and
time; :func:`simulate_experiment` also renders the frames (NucLight-Red-like nuclear channel,
16-bit, and phase contrast, 8-bit) and writes the metric export, the plate maps and the truth
tables, laid out like a real experiment folder::

    frames/red/<prefix>_<Well>_<Field>_<DD>d<HH>h<MM>m.tif     16-bit, LZW
    frames/phase/<prefix>_<Well>_<Field>_<DD>d<HH>h<MM>m.tif   8-bit, LZW
    truth.csv            one row per true nucleus of every rendered frame
    truth_counts.csv     one row per well, field and time
    export_red_count.txt IncuCyte S3/SX5 metric export, Red Object Count (Per Image)
    plate_map.csv        long plate map
    plate_map.PlateMap   IncuCyte plate map XML

Kinetics
--------
Each well grows logistically, ``N(t) = K / (1 + (K/N0 - 1) exp(-R(t)))``, where the
cumulative rate ``R(t)`` integrates a specific growth rate ``r`` that ramps up after plating
(lag ``tau``: ``r (1 - exp(-t/tau))``) and is multiplied by ``1 - effect`` from the treatment
onset on (cytostatic inhibition). Replicate wells differ by lognormal factors on the rate
(``RATE_SD``) and the seeding of each field (``SEEDING_SD``); the true count of a frame is a
Poisson draw around ``N(t)`` (cells moving in and out of the field). Seeding and capacity
refer to a full 1408 x 1040 frame and scale with the frame area.

Rendering
---------
Nuclei (10-15 px across, as NucLight Red nuclei at 10x) grow in colonies: the nuclei of a
field form one sequence, founders first, each later nucleus placed beside an earlier one
(its parent) and never closer to another than ``MIN_SEPARATION`` times their summed radii
(further when their brightness differs), so nuclei touch but rarely overlap. The frame at a
time shows the first ``N(t)`` nuclei of the sequence, so colonies persist and grow from frame
to frame; the newest nuclei and their parents are drawn as dividing pairs (smaller,
brighter). Each nucleus is an elliptical Gaussian blob of its own size, orientation and
(lognormal) brightness, added as a small precomputed kernel patch. Frames get smooth
vignetting, a camera offset, autofluorescence, shot and read noise, bright specks and large
dim debris, and a small share (``OUT_OF_FOCUS_RATE``) are out of focus (blurred;
``out_of_focus`` in ``truth_counts.csv``). The phase frame draws each cell as a ragged
footprint around its nucleus, slightly dark and granular, with a bright halo outside its
border; the covered share is ``confluence_true``.

Every true nucleus of an in-focus frame is a local intensity maximum within 2 px of its
``truth.csv`` position. Everything is deterministic for a seed: each well, field and time
draws from its own child seed, so rendering a subset of wells or times gives the same frames,
and the counts do not depend on the time grid. ``truth.csv`` of a full plate at full size is
large (about 100 MB for 90 wells x 25 times); the frames about 2.8 MB each (red and phase).
"""

from __future__ import annotations

import functools
import math
import os
import time as _time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from incugrowth._io import atomic_path, write_csv
from incugrowth.errors import IncugrowthError

__all__ = [
    "DEFAULT_TIMES",
    "REFERENCE_SHAPE",
    "Design",
    "design_names",
    "get_design",
    "register_design",
    "simulate_counts",
    "simulate_experiment",
    "synthetic_frame",
    "time_token",
    "write_export",
    "write_plate_map_xml",
]

#: Frame shape (height, width) that seeding densities and capacities refer to (S3/SX5, 10x).
REFERENCE_SHAPE = (1040, 1408)
#: Default time grid: every 4 h from 0 to 96 h.
DEFAULT_TIMES = tuple(float(t) for t in range(0, 97, 4))

RATE_SD = 0.05  # lognormal SD of the growth rate between replicate wells
SEEDING_SD = 0.15  # lognormal SD of the seeding between wells and fields
OUT_OF_FOCUS_RATE = 0.02  # share of frames that are out of focus
DIVIDING_FRACTION = 0.02  # share of a frame's nuclei that were born last, drawn as pairs

# Red channel (16-bit counts): camera offset, autofluorescence, median nucleus peak, noise.
RED_OFFSET = 100.0
RED_AUTOFLUORESCENCE = 40.0
RED_PEAK = 900.0
RED_BRIGHTNESS_SD = 0.25
RED_READ_NOISE = 6.0
# Nucleus geometry: equivalent radius (px) and axis ratio; pairs closer than MIN_SEPARATION
# times the sum of their radii are never placed, so nuclei touch but rarely overlap.
NUCLEUS_RADIUS = 6.0
NUCLEUS_RADIUS_SD = 0.1
NUCLEUS_RADIUS_RANGE = (5.0, 7.5)
MIN_SEPARATION = 0.85
# Cells per 96-well well for one nucleus per full frame: 0.32 cm2 over 1.746 x 1.290 mm (10x).
CELLS_PER_WELL = 32.0 / (1.746 * 1.290)
# Phase channel (8-bit).
PHASE_BACKGROUND = 128.0
PHASE_NOISE = 3.0

_STREAM_WELL, _STREAM_FIELD, _STREAM_COUNT, _STREAM_LAYOUT, _STREAM_FRAME, _STREAM_PLATE = range(6)

_PLATE_COLUMNS = ["well", "cell_line", "treatment", "dose", "dose_unit", "control"]
_KINETIC_DEFAULTS = {
    "capacity": 3500.0,
    "lag_h": 8.0,
    "onset_h": 16.0,
    "effect": 0.0,
}
_REQUIRED = ["well", "cell_line", "treatment", "seeding", "rate_per_h"]


# --------------------------------------------------------------------------------------
# Designs


@dataclass(frozen=True, eq=False)
class Design:
    """A plate design: one row per well with its annotation and growth kinetics.

    ``wells`` has the plate-map columns ``well``, ``cell_line``, ``treatment``, ``dose``,
    ``dose_unit``, ``control`` (the vehicle control of the treatment, or empty),
    ``replicate``, and the kinetics ``seeding`` (nuclei per full frame at plating),
    ``rate_per_h`` (specific growth rate), ``capacity`` (nuclei per full frame at
    confluence), ``lag_h`` (time constant of the ramp-up after plating), ``onset_h`` (time
    the treatment starts to act) and ``effect`` (fraction of the growth rate removed after the
    onset: 0 no effect, 1 full cytostasis, above 1 net loss).

    Examples
    --------
    >>> d = get_design("fig4")
    >>> len(d.wells), sorted(d.wells["cell_line"].unique())[:2]
    (90, ['M407', 'M407 JAK1-KO'])
    >>> d.plate_map().columns.tolist()
    ['well', 'cell_line', 'treatment', 'dose', 'dose_unit', 'control']
    """

    name: str
    wells: pd.DataFrame
    description: str = ""
    reference_shape: tuple[int, int] = field(default=REFERENCE_SHAPE)

    def __post_init__(self):
        object.__setattr__(self, "wells", _complete_wells(self.wells, self.name))

    def plate_map(self) -> pd.DataFrame:
        """The plate map table of the design (one row per well)."""
        return self.wells[_PLATE_COLUMNS].copy()

    @classmethod
    def from_table(cls, table: pd.DataFrame | str | os.PathLike, *, name: str | None = None):
        """Build a design from a table or a CSV file with the columns of ``wells``.

        Only ``well``, ``cell_line``, ``treatment``, ``seeding`` and ``rate_per_h`` are
        required; the other kinetics columns default to capacity 3500, lag 8 h, onset 16 h
        and no effect.
        """
        if not isinstance(table, pd.DataFrame):
            path = Path(table)
            try:
                table = pd.read_csv(path, keep_default_na=True)
            except (OSError, pd.errors.ParserError) as exc:
                raise IncugrowthError(f"{path}: cannot read the design table: {exc}") from None
            name = name or path.stem
        return cls(name=name or "custom", wells=table)


def _complete_wells(wells: pd.DataFrame, name: str) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in wells.columns]
    if missing:
        raise IncugrowthError(
            f"design {name!r}: missing column(s) {', '.join(missing)}; a design needs "
            f"{', '.join(_REQUIRED)}"
        )
    df = wells.copy()
    df["well"] = df["well"].astype(str).map(_canonical_well_or_raise)
    if df["well"].duplicated().any():
        dup = df.loc[df["well"].duplicated(), "well"].iloc[0]
        raise IncugrowthError(f"design {name!r}: well {dup} appears twice")
    for col, default in _KINETIC_DEFAULTS.items():
        if col not in df.columns:
            df[col] = default
    if "dose" not in df.columns:
        df["dose"] = np.nan
    for col in ("dose_unit", "control"):
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].fillna("").astype(str)
    df["dose"] = pd.to_numeric(df["dose"], errors="raise").astype(float)
    if "replicate" not in df.columns:
        df["replicate"] = (
            df.groupby(["cell_line", "treatment", "dose"], dropna=False).cumcount() + 1
        )
    for col in ("seeding", "rate_per_h", "capacity", "lag_h", "onset_h", "effect"):
        df[col] = pd.to_numeric(df[col], errors="raise").astype(float)
    bad = df[(df["seeding"] <= 0) | (df["capacity"] <= df["seeding"])]
    if len(bad):
        raise IncugrowthError(
            f"design {name!r}: well {bad['well'].iloc[0]}: seeding must be positive and below "
            "the capacity"
        )
    columns = [*_PLATE_COLUMNS, "replicate", "seeding", "rate_per_h", *_KINETIC_DEFAULTS]
    extra = [c for c in df.columns if c not in columns]
    return df[columns + extra].reset_index(drop=True)


def _canonical_well_or_raise(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0].isalpha() and t[1:].isdigit() and "A" <= t[0].upper() <= "P":
        col = int(t[1:])
        if 1 <= col <= 24:
            return f"{t[0].upper()}{col}"
    raise IncugrowthError(f"design: {text!r} is not a well name (expected e.g. B3)")


_DESIGNS: dict[str, Callable[[], Design]] = {}


def register_design(name: str):
    """Register a function returning a :class:`Design` under ``name`` (a decorator).

    Examples
    --------
    >>> @register_design("tiny")
    ... def _tiny():
    ...     wells = pd.DataFrame({"well": ["B2", "B3"], "cell_line": "M407",
    ...                           "treatment": ["untreated", "IFN gamma"],
    ...                           "seeding": 200.0, "rate_per_h": 0.03, "effect": [0, 0.8]})
    ...     return Design("tiny", wells)
    >>> get_design("tiny").wells["replicate"].tolist()
    [1, 1]
    """

    def decorate(func: Callable[[], Design]) -> Callable[[], Design]:
        _DESIGNS[name] = func
        return func

    return decorate


def design_names() -> list[str]:
    """Names of the registered designs.

    Examples
    --------
    >>> {"fig4", "doses"} <= set(design_names())
    True
    """
    return sorted(_DESIGNS)


def get_design(design: str | os.PathLike | Design) -> Design:
    """A design by registered name, from a CSV design table, or as given.

    Examples
    --------
    >>> get_design("doses").wells["dose"].dropna().unique().tolist()
    [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
    """
    if isinstance(design, Design):
        return design
    key = str(design)
    if key in _DESIGNS:
        return _DESIGNS[key]()
    if key.lower().endswith(".csv") and Path(key).is_file():
        return Design.from_table(key)
    raise IncugrowthError(
        f"unknown design {key!r}: choose one of {', '.join(design_names())} or give a CSV "
        "design table"
    )


FIG4_CELL_LINES = ("M420", "M464", "M407", "M407 JAK1-KO", "M407 JAK2-KO")
FIG4_TREATMENTS = (
    ("untreated", np.nan, ""),
    ("IFN alfa", 5000.0, "U/ml"),
    ("IFN beta", 500.0, "U/ml"),
    ("IFN gamma", 100.0, "ng/ml"),
    ("Lipofectamine", np.nan, ""),
    ("2'3'-cGAMP", 25.0, "ug/ml"),
)
# Specific growth rate (1/h) of each line, untreated.
_FIG4_RATES = {
    "M420": 0.026,
    "M464": 0.024,
    "M407": 0.031,
    "M407 JAK1-KO": 0.028,
    "M407 JAK2-KO": 0.028,
}
# Fraction of the growth rate each treatment removes after the onset. M420 and M407 respond
# to all three interferons; M464 (JAK2 loss) and M407 JAK2-KO not to gamma; M407 JAK1-KO to
# none; cGAMP acts on every line but JAK1-KO.
_FIG4_EFFECTS = {
    "M420": {"IFN alfa": 0.75, "IFN beta": 0.8, "IFN gamma": 0.8, "2'3'-cGAMP": 0.75},
    "M464": {"IFN alfa": 0.7, "IFN beta": 0.75, "IFN gamma": 0.0, "2'3'-cGAMP": 0.7},
    "M407": {"IFN alfa": 0.8, "IFN beta": 0.85, "IFN gamma": 0.85, "2'3'-cGAMP": 0.8},
    "M407 JAK1-KO": {"IFN alfa": 0.0, "IFN beta": 0.0, "IFN gamma": 0.0, "2'3'-cGAMP": 0.0},
    "M407 JAK2-KO": {"IFN alfa": 0.7, "IFN beta": 0.75, "IFN gamma": 0.0, "2'3'-cGAMP": 0.75},
}
LIPOFECTAMINE_TOXICITY = 0.05  # Lipofectamine alone, and as the vehicle of cGAMP
_ROWS = "ABCDEFGH"


@register_design("fig4")
def fig4_design() -> Design:
    """The Fig. 4 design: 5 cell lines x 6 treatments x 3 replicate wells on a 96-well plate.

    The 90 wells fill the plate row by row from A1; each treatment takes three neighbouring
    wells of a row (columns 1-3, 4-6, 7-9 or 10-12) and each cell line 18 consecutive wells
    (one and a half rows), in the order M420, M464, M407, M407 JAK1-KO, M407 JAK2-KO and
    untreated, IFN alfa, IFN beta, IFN gamma, Lipofectamine, 2'3'-cGAMP; H7-H12 are empty.
    """
    rows = []
    i = 0
    for line in FIG4_CELL_LINES:
        for treatment, dose, unit in FIG4_TREATMENTS:
            effect = _FIG4_EFFECTS[line].get(treatment, 0.0)
            if treatment in ("Lipofectamine", "2'3'-cGAMP"):
                effect = 1.0 - (1.0 - effect) * (1.0 - LIPOFECTAMINE_TOXICITY)
            control = "Lipofectamine" if treatment == "2'3'-cGAMP" else ""
            for rep in (1, 2, 3):
                well = f"{_ROWS[i // 12]}{i % 12 + 1}"
                rows.append(
                    (well, line, treatment, dose, unit, control, rep, 220.0,
                     _FIG4_RATES[line], 3500.0, 8.0, 16.0, effect)
                )  # fmt: skip
                i += 1
    cols = [*_PLATE_COLUMNS, "replicate", "seeding", "rate_per_h", *_KINETIC_DEFAULTS]
    return Design(
        "fig4",
        pd.DataFrame(rows, columns=cols),
        description="Zaretsky et al. 2016 Fig. 4: interferon and cGAMP growth inhibition",
    )


DOSES_IFN_GAMMA = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


@register_design("doses")
def doses_design(*, emax: float = 0.9, ec50: float = 2.0, hill: float = 1.0) -> Design:
    """IFN gamma dose response on M407: untreated and 0.1-100 ng/ml, three replicate rows.

    Replicates are rows B-D; column 2 is untreated and columns 3-9 the doses, ascending. The
    effect follows a Hill curve, ``emax * d**hill / (ec50**hill + d**hill)``.
    """
    rows = []
    for r, row in enumerate("BCD", start=1):
        for c, dose in enumerate((np.nan, *DOSES_IFN_GAMMA), start=2):
            untreated = np.isnan(dose)
            effect = 0.0 if untreated else emax * dose**hill / (ec50**hill + dose**hill)
            rows.append(
                (f"{row}{c}", "M407", "untreated" if untreated else "IFN gamma", dose,
                 "" if untreated else "ng/ml", "", r, 220.0, 0.031, 3500.0, 8.0, 16.0, effect)
            )  # fmt: skip
    cols = [*_PLATE_COLUMNS, "replicate", "seeding", "rate_per_h", *_KINETIC_DEFAULTS]
    return Design(
        "doses",
        pd.DataFrame(rows, columns=cols),
        description=f"IFN gamma dose response on M407 (Hill: Emax {emax}, EC50 {ec50} ng/ml)",
    )


# --------------------------------------------------------------------------------------
# Kinetics and counts


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
        raise IncugrowthError(f"{what} must be at least 32 x 32 pixels, got {h} x {w}")
    return h, w


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


# --------------------------------------------------------------------------------------
# Colony layout: one growing sequence of nuclei per well and field


def _grow_layout(rng, n_total: int, n_founders: int, shape, brightness: np.ndarray) -> dict:
    """Positions of ``n_total`` nuclei; any prefix is a valid earlier frame.

    The random draws of each batch depend only on how many nuclei exist at its start, so the
    sequence for a smaller ``n_total`` is exactly a prefix of the one for a larger. Two nuclei
    keep ``MIN_SEPARATION`` times their summed radii apart, more when their brightness differs
    (a dim nucleus right beside a bright one would lose its own intensity peak).
    """
    from scipy.spatial import cKDTree

    h, w = shape
    margin = 2.0
    cap = max(n_total, 1)
    ys = np.empty(cap)
    xs = np.empty(cap)
    rs = np.empty(cap)
    parent = np.full(cap, -1, dtype=np.int64)
    log_b = np.log(brightness)
    widen = 0.3  # separation grows by this much per unit of |log brightness ratio|
    max_widen = 1.0 + widen * (log_b.max() - log_b.min()) if n_total else 1.0
    n = 0
    lo, hi = NUCLEUS_RADIUS_RANGE

    def radii(m):
        return np.clip(NUCLEUS_RADIUS * np.exp(NUCLEUS_RADIUS_SD * rng.normal(size=m)), lo, hi)

    founders = min(max(n_founders, 1), n_total)
    stalled = 0
    while n < n_total:
        m = max(8, n // 8)
        r_new = radii(m)
        u = rng.random((m, 2))
        if n < founders:
            cy = margin + u[:, 0] * (h - 2 * margin)
            cx = margin + u[:, 1] * (w - 2 * margin)
            par = np.full(m, -1)
        else:
            par = rng.integers(0, n, m)
            # A few cells settle away from any colony (migration), and all do when crowded.
            lone = rng.random(m) < (0.04 if stalled < 3 else 1.0)
            dist = (rs[par] + r_new) * (1.0 + 1.1 * u[:, 0])
            theta = 2.0 * np.pi * u[:, 1]
            cy = np.where(lone, margin + rng.random(m) * (h - 2 * margin),
                          ys[par] + dist * np.sin(theta))  # fmt: skip
            cx = np.where(lone, margin + rng.random(m) * (w - 2 * margin),
                          xs[par] + dist * np.cos(theta))  # fmt: skip
            par = np.where(lone, -1, par)
        inside = (cy >= margin) & (cy <= h - 1 - margin) & (cx >= margin) & (cx <= w - 1 - margin)
        if n:
            tree = cKDTree(np.column_stack([ys[:n], xs[:n]]))
            reach = MIN_SEPARATION * (r_new + rs[:n].max()) * max_widen
            near = tree.query_ball_point(np.column_stack([cy, cx]), reach)
        accepted = 0
        start = n
        for j in range(m):
            if n >= n_total:
                break
            if not inside[j]:
                continue
            if start:
                idx = near[j]
                if idx:
                    idx = np.asarray(idx)
                    d2 = (ys[idx] - cy[j]) ** 2 + (xs[idx] - cx[j]) ** 2
                    sep = (rs[idx] + r_new[j]) * (1.0 + widen * np.abs(log_b[idx] - log_b[n]))
                    if np.any(d2 < (MIN_SEPARATION * sep) ** 2):
                        continue
            if n > start:
                d2 = (ys[start:n] - cy[j]) ** 2 + (xs[start:n] - cx[j]) ** 2
                ratio = np.abs(log_b[start:n] - log_b[n])
                sep = (rs[start:n] + r_new[j]) * (1.0 + widen * ratio)
                if np.any(d2 < (MIN_SEPARATION * sep) ** 2):
                    continue
            if start < founders and n >= founders:
                break  # founders come first: start the colonies in the next batch
            ys[n], xs[n], rs[n], parent[n] = cy[j], cx[j], r_new[j], par[j]
            n += 1
            accepted += 1
        stalled = 0 if accepted else stalled + 1
        if stalled > 50:
            raise IncugrowthError(
                f"cannot place {n_total} nuclei in a {h} x {w} frame: lower the capacity"
            )
    k = n_total
    return {"y": ys[:k], "x": xs[:k], "radius": rs[:k], "parent": parent[:k]}


def _layout_for(seed: int, code: int, field_: int, n_total: int, n_founders: int, shape):
    """The layout of a well and field, with each nucleus's looks (shape, brightness, cell)."""
    # Looks are drawn in fixed blocks of 256 nuclei so they do not depend on n_total.
    k = n_total
    blocks = -(-k // 256) if k else 0
    looks = {name: [] for name in ("aspect", "angle", "brightness", "cell_scale", "cell_aspect")}
    for b in range(blocks):
        g = _rng(seed, _STREAM_LAYOUT, code, field_, 1_000_000 + b)
        looks["aspect"].append(1.0 + np.minimum(np.abs(g.normal(0.0, 0.15, 256)), 0.45))
        looks["angle"].append(g.uniform(0.0, np.pi, 256))
        looks["brightness"].append(
            np.exp(np.clip(RED_BRIGHTNESS_SD * g.normal(size=256), -0.7, 0.7))
        )
        looks["cell_scale"].append(g.uniform(2.2, 3.2, 256))
        looks["cell_aspect"].append(1.0 + np.abs(g.normal(0.0, 0.5, 256)))
    looks = {name: np.concatenate(p)[:k] if p else np.empty(0) for name, p in looks.items()}
    rng = _rng(seed, _STREAM_LAYOUT, code, field_)
    layout = _grow_layout(rng, n_total, n_founders, shape, looks["brightness"])
    return {**layout, **looks}


# --------------------------------------------------------------------------------------
# Kernel banks and stamping


_RADIUS_BINS = np.round(np.arange(3.5, 8.01, 0.25), 2)
_ASPECT_BINS = np.array([1.0, 1.15, 1.3, 1.45])
_N_ANGLES = 12
_CELL_RADIUS_BINS = np.arange(8.0, 26.01, 1.0)
_CELL_ASPECT_BINS = np.array([1.0, 1.4, 1.9, 2.5])


def _ellipse_rho(a: float, b: float, angle: float, half: int) -> np.ndarray:
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    c, s = math.cos(angle), math.sin(angle)
    u = xx * c + yy * s
    v = -xx * s + yy * c
    return np.sqrt((u / a) ** 2 + (v / b) ** 2)


@functools.lru_cache(maxsize=1)
def _nucleus_bank() -> dict:
    """Gaussian nucleus profiles (8 % of the peak at the nucleus edge), peak 1 at the centre."""
    bank = {}
    for i, r in enumerate(_RADIUS_BINS):
        for j, asp in enumerate(_ASPECT_BINS):
            a, b = r * math.sqrt(asp), r / math.sqrt(asp)
            half = int(math.ceil(1.6 * a))
            for k in range(_N_ANGLES):
                rho = _ellipse_rho(a, b, math.pi * k / _N_ANGLES, half)
                bank[i, j, k] = np.exp(-2.5 * rho**2).astype(np.float32)
    return bank


@functools.lru_cache(maxsize=1)
def _cell_bank() -> dict:
    """Binary cell footprints for the phase channel."""
    bank = {}
    for i, r in enumerate(_CELL_RADIUS_BINS):
        for j, asp in enumerate(_CELL_ASPECT_BINS):
            a, b = r * math.sqrt(asp), r / math.sqrt(asp)
            half = int(math.ceil(a)) + 1
            for k in range(_N_ANGLES):
                bank[i, j, k] = _ellipse_rho(a, b, math.pi * k / _N_ANGLES, half) <= 1.0
    return bank


def _nearest(bins: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(values)[:, None] - bins[None, :]).argmin(axis=1)


def _angle_index(angle: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(angle) / math.pi * _N_ANGLES).astype(int) % _N_ANGLES


def _stamp(image: np.ndarray, kernel: np.ndarray, y: int, x: int, amp: float | None):
    """Add ``amp * kernel`` (or OR a mask when ``amp`` is None) centred at (y, x), clipped."""
    hy, hx = kernel.shape[0] // 2, kernel.shape[1] // 2
    y0, x0 = y - hy, x - hx
    y1, x1 = y0 + kernel.shape[0], x0 + kernel.shape[1]
    cy0, cx0 = max(y0, 0), max(x0, 0)
    cy1, cx1 = min(y1, image.shape[0]), min(x1, image.shape[1])
    if cy0 >= cy1 or cx0 >= cx1:
        return
    patch = kernel[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    if amp is None:
        image[cy0:cy1, cx0:cx1] |= patch
    else:
        image[cy0:cy1, cx0:cx1] += amp * patch


@functools.lru_cache(maxsize=8)
def _illumination(shape: tuple[int, int], window: tuple[int, int, int, int], seed: int):
    """Smooth vignetting (1 at the brightest point) of the full frame, cut to the window."""
    g = _rng(seed, _STREAM_PLATE)
    h, w = shape
    cy = h / 2 * (1 + g.uniform(-0.15, 0.15))
    cx = w / 2 * (1 + g.uniform(-0.15, 0.15))
    strength = g.uniform(0.25, 0.35)
    y0, x0, hh, ww = window
    yy = (np.arange(y0, y0 + hh, dtype=np.float32)[:, None] - cy) / (h / 2)
    xx = (np.arange(x0, x0 + ww, dtype=np.float32)[None, :] - cx) / (w / 2)
    r2 = (yy**2 + xx**2) / 2.0
    return (1.0 - strength * r2).astype(np.float32)


# --------------------------------------------------------------------------------------
# Frame rendering


def _frame_nuclei(layout: dict, n: int, window) -> dict:
    """The first ``n`` nuclei, with dividing pairs marked, inside the window (window coords)."""
    y0, x0, hh, ww = window
    idx = np.arange(n)
    dividing = np.zeros(n, dtype=bool)
    k = int(round(DIVIDING_FRACTION * n))
    if k:
        newest = idx[n - k :]
        parents = layout["parent"][newest]
        born = parents >= 0
        dividing[newest[born]] = True
        dividing[parents[born]] = True
    yi = np.rint(layout["y"][:n]).astype(int) - y0
    xi = np.rint(layout["x"][:n]).astype(int) - x0
    keep = (yi >= 0) & (yi < hh) & (xi >= 0) & (xi < ww)
    radius = layout["radius"][:n] * np.where(dividing, 0.75, 1.0)
    brightness = RED_PEAK * layout["brightness"][:n] * np.where(dividing, 1.5, 1.0)
    out = {
        "y": yi,
        "x": xi,
        "radius": radius,
        "aspect": layout["aspect"][:n],
        "angle": layout["angle"][:n],
        "brightness": brightness,
        "dividing": dividing,
        "cell_scale": layout["cell_scale"][:n],
        "cell_aspect": layout["cell_aspect"][:n],
    }
    return {key: value[keep] for key, value in out.items()}


def _render_red(nuc: dict, shape, illum, rng, out_of_focus: bool):
    """The red frame (uint16) and the noise-free nuclear signal alone (float32)."""
    from scipy.ndimage import gaussian_filter

    h, w = shape
    signal = np.zeros(shape, dtype=np.float32)
    bank = _nucleus_bank()
    ri = _nearest(_RADIUS_BINS, nuc["radius"])
    ai = _nearest(_ASPECT_BINS, nuc["aspect"])
    ki = _angle_index(nuc["angle"])
    for y, x, i, j, k, amp in zip(nuc["y"], nuc["x"], ri, ai, ki, nuc["brightness"]):
        _stamp(signal, bank[i, j, k], y, x, amp)
    nuclei = signal.copy()

    area = h * w / (REFERENCE_SHAPE[0] * REFERENCE_SHAPE[1])
    speck = np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]], np.float32)
    for _ in range(rng.poisson(6 * area)):  # bright specks, 1-3 px, between the nuclei
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        amp = float(RED_PEAK * rng.uniform(1.5, 3.0))
        if nuclei[max(y - 6, 0) : y + 7, max(x - 6, 0) : x + 7].max(initial=0.0) < 0.05 * RED_PEAK:
            _stamp(signal, speck, y, x, amp)
    for _ in range(rng.poisson(1.5 * area)):  # large dim debris
        rad = rng.uniform(15.0, 40.0)
        half = int(2 * rad)
        rho = _ellipse_rho(rad * rng.uniform(1.0, 1.5), rad, rng.uniform(0, np.pi), half)
        blob = np.exp(-0.5 * (rho / 0.6) ** 2).astype(np.float32)
        y, x = rng.integers(0, h), rng.integers(0, w)
        _stamp(signal, blob, int(y), int(x), float(RED_PEAK * rng.uniform(0.06, 0.15)))
    if out_of_focus:
        signal = gaussian_filter(signal, 3.5)

    light = (signal + RED_AUTOFLUORESCENCE) * illum
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise *= np.sqrt(light + RED_READ_NOISE**2)  # shot (Poisson, Gaussian limit) + read noise
    light += noise
    light += RED_OFFSET
    return np.clip(np.rint(light), 0, 65535).astype(np.uint16), nuclei


@functools.lru_cache(maxsize=16)
def _interpolator(n: int, scale: int) -> np.ndarray:
    """Linear interpolation matrix from ``n // scale + 2`` knots to ``n`` pixels."""
    pos = np.arange(n) / scale
    lo = np.floor(pos).astype(int)
    frac = (pos - lo).astype(np.float32)
    mat = np.zeros((n, n // scale + 2), dtype=np.float32)
    mat[np.arange(n), lo] = 1.0 - frac
    mat[np.arange(n), lo + 1] = frac
    return mat


def _smooth_noise(rng, shape, scale: int) -> np.ndarray:
    """A random field of roughly unit amplitude varying over about ``scale`` pixels."""
    ay, ax = _interpolator(shape[0], scale), _interpolator(shape[1], scale)
    coarse = rng.standard_normal((ay.shape[1], ax.shape[1]), dtype=np.float32)
    return (ay @ coarse) @ ax.T


@functools.lru_cache(maxsize=8)
def _texture_bank(shape: tuple[int, int], scale: int, seed: int) -> np.ndarray:
    """A smooth random field twice the frame's size; frames take shifted windows of it."""
    return _smooth_noise(_rng(seed, _STREAM_PLATE, scale), (2 * shape[0], 2 * shape[1]), scale)


def _texture(shape, scale: int, seed: int, rng) -> np.ndarray:
    bank = _texture_bank(tuple(shape), scale, seed)
    oy, ox = int(rng.integers(0, shape[0])), int(rng.integers(0, shape[1]))
    return bank[oy : oy + shape[0], ox : ox + shape[1]]


def _render_phase(nuc: dict, nuclei: np.ndarray, shape, illum, rng, out_of_focus: bool, seed=0):
    """The phase frame (uint8) and its true confluence (percent of the frame covered)."""
    from scipy.ndimage import gaussian_filter, uniform_filter

    mask = np.zeros(shape, dtype=bool)
    bank = _cell_bank()
    ci = _nearest(_CELL_RADIUS_BINS, nuc["radius"] * nuc["cell_scale"])
    ai = _nearest(_CELL_ASPECT_BINS, nuc["cell_aspect"])
    ki = _angle_index(nuc["angle"])
    for y, x, i, j, k in zip(nuc["y"], nuc["x"], ci, ai, ki):
        _stamp(mask, bank[i, j, k], y, x, None)
    # Ragged cell borders: the union of footprints, softened and cut with fine noise; only
    # the border band is perturbed, so there are no specks or holes.
    soft = uniform_filter(mask.astype(np.float32), 5)
    band = soft * (1.0 - soft)
    band *= 1.4 * _texture(shape, 6, seed, rng)
    band += soft
    cells = (band > 0.5).astype(np.float32)
    edge = uniform_filter(cells, 5)
    edge -= cells  # > 0 just outside a cell (bright halo), < 0 just inside (dark rim)
    img = PHASE_BACKGROUND * (0.85 + 0.15 * illum)
    img += 4.0 * _texture(shape, 48, seed, rng)
    img += 130.0 * edge
    img -= 8.0 * cells  # cell bodies slightly dark
    img -= 14.0 * np.minimum(nuclei * (1.0 / RED_PEAK), 1.5)
    if out_of_focus:
        img = gaussian_filter(img, 2.5)
    # Pixel noise outside cells, stronger granular texture inside.
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise *= PHASE_NOISE + 3.7 * cells
    img += noise
    np.rint(img, out=img)
    return np.clip(img, 0, 255).astype(np.uint8), float(cells.mean() * 100.0)


def _write_tiff(path: Path, image: np.ndarray) -> None:
    import tifffile

    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp,
            image,
            compression="lzw",
            predictor=True,
            photometric="minisblack",
            resolution=(72.0, 72.0),
            resolutionunit="INCH",
            metadata=None,
        )


def time_token(hours: float) -> str:
    """The ``<DD>d<HH>h<MM>m`` part of an IncuCyte frame name.

    Examples
    --------
    >>> time_token(0), time_token(47.5667), time_token(96)
    ('00d00h00m', '01d23h34m', '04d00h00m')
    """
    days, rest = divmod(_minute(hours), 24 * 60)
    hh, mm = divmod(rest, 60)
    return f"{days:02d}d{hh:02d}h{mm:02d}m"


def _render_task(task: dict) -> tuple[pd.DataFrame, list[dict]]:
    """Render every requested time of one well and field; returns its truth and frame stats."""
    seed, well, code, fld = task["seed"], task["well"], task["code"], task["field"]
    shape, window = task["shape"], task["window"]
    counts, times, blurred = task["counts"], task["times"], task["out_of_focus"]
    layout = _layout_for(seed, code, fld, int(max(counts)), int(task["founders"]), shape)
    illum = _illumination(tuple(shape), tuple(window), seed)
    win_shape = (window[2], window[3])
    truth, stats = [], []
    for n, t, oof in zip(counts, times, blurred):
        rng = _rng(seed, _STREAM_FRAME, code, fld, _minute(t))
        nuc = _frame_nuclei(layout, int(n), window)
        red, nuclei = _render_red(nuc, win_shape, illum, rng, bool(oof))
        phase, confluence = _render_phase(nuc, nuclei, win_shape, illum, rng, bool(oof), seed=seed)
        name = f"{task['prefix']}_{well}_{fld}_{time_token(t)}.tif"
        _write_tiff(Path(task["outdir"]) / "frames" / "red" / name, red)
        _write_tiff(Path(task["outdir"]) / "frames" / "phase" / name, phase)
        m = len(nuc["y"])
        truth.append(
            pd.DataFrame(
                {
                    "well": well,
                    "field": fld,
                    "elapsed_h": float(t),
                    "y": nuc["y"],
                    "x": nuc["x"],
                    "radius": np.round(nuc["radius"], 2),
                    "axis_ratio": np.round(nuc["aspect"], 3),
                    "angle_deg": np.round(np.degrees(nuc["angle"]), 1),
                    "brightness": np.round(nuc["brightness"], 1),
                    "dividing": nuc["dividing"],
                }
            )
        )
        stats.append(
            {
                "well": well,
                "field": fld,
                "elapsed_h": float(t),
                "count_in_frame": m,
                "confluence_true": round(confluence, 3),
            }
        )
    return pd.concat(truth, ignore_index=True), stats


def synthetic_frame(
    count: int,
    *,
    shape: tuple[int, int] = (256, 256),
    seed: int = 0,
    out_of_focus: bool = False,
) -> tuple[np.ndarray, pd.DataFrame]:
    """One red (nuclear) frame with ``count`` clustered nuclei, and its truth.

    The same renderer as :func:`simulate_experiment`, for tests and benchmarks of counting.

    Returns
    -------
    image : ndarray of uint16
    truth : DataFrame
        One row per nucleus: ``y``, ``x`` (pixel of the centre), ``radius``, ``axis_ratio``,
        ``angle_deg``, ``brightness``, ``dividing``.

    Examples
    --------
    >>> img, truth = synthetic_frame(40, seed=1)
    >>> img.shape, img.dtype, len(truth)
    ((256, 256), dtype('uint16'), 40)
    """
    shape = _check_shape(shape, "shape")
    count = int(count)
    if count < 0:
        raise IncugrowthError(f"count must be >= 0, got {count}")
    layout = _layout_for(seed, 0, 0, count, max(1, count // 4), shape)
    window = (0, 0, shape[0], shape[1])
    nuc = _frame_nuclei(layout, count, window)
    rng = _rng(seed, _STREAM_FRAME, 0, 0, 0)
    image, _ = _render_red(nuc, shape, _illumination(shape, window, seed), rng, out_of_focus)
    truth = pd.DataFrame(
        {
            "y": nuc["y"],
            "x": nuc["x"],
            "radius": np.round(nuc["radius"], 2),
            "axis_ratio": np.round(nuc["aspect"], 3),
            "angle_deg": np.round(np.degrees(nuc["angle"]), 1),
            "brightness": np.round(nuc["brightness"], 1),
            "dividing": nuc["dividing"],
        }
    )
    return image, truth


# --------------------------------------------------------------------------------------
# Writers: metric export and plate maps


def _column_major(wells: Iterable[str]) -> list[str]:
    return sorted(set(wells), key=lambda w: (int(w[1:]), w[0]))


def write_export(
    counts: pd.DataFrame,
    path: str | os.PathLike,
    *,
    metric: str = "Red Object Count (Per Image)",
    vessel: str = "simulated plate",
    analysis: str = "NucLight Red nuclear count",
    start: datetime = datetime(2016, 3, 14, 10, 26),
) -> Path:
    """Write counts as an IncuCyte S3/SX5 metric export (tab-separated, CRLF, UTF-8).

    One column per well and image (``B2, Image 1``), wells in IncuCyte's column-major order
    (B2, C2, ..., B3, ...); ``Date Time`` in day/month/year form from ``start`` plus the
    elapsed hours.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> counts = pd.DataFrame({"well": ["B2", "B2", "C2", "C2"], "field": [1, 1, 1, 1],
    ...                        "elapsed_h": [0.0, 4.0, 0.0, 4.0], "count": [200, 230, 180, 190]})
    >>> p = write_export(counts, pathlib.Path(tempfile.mkdtemp()) / "export.txt")
    >>> print(p.read_text().replace("\\t", " | "))  # doctest: +NORMALIZE_WHITESPACE
    Vessel Name: simulated plate
    Metric: Red Object Count (Per Image)
    Analysis: NucLight Red nuclear count
    <BLANKLINE>
    Date Time | Elapsed | B2, Image 1 | C2, Image 1
    14/03/2016 10:26:00 | 0 | 200 | 180
    14/03/2016 14:26:00 | 4 | 230 | 190
    """
    wide = counts.pivot_table(
        index="elapsed_h", columns=["well", "field"], values="count", aggfunc="first"
    )
    order = [
        (w, f) for w in _column_major(counts["well"]) for f in sorted(counts["field"].unique())
    ]
    order = [key for key in order if key in wide.columns]
    wide = wide[order]
    lines = [
        f"Vessel Name: {vessel}",
        f"Metric: {metric}",
        f"Analysis: {analysis}",
        "",
        "\t".join(["Date Time", "Elapsed", *(f"{w}, Image {int(f)}" for w, f in order)]),
    ]
    for t, values in wide.iterrows():
        stamp = (start + timedelta(hours=float(t))).strftime("%d/%m/%Y %H:%M:%S")
        cells = ["" if pd.isna(v) else f"{int(v)}" for v in values]
        lines.append("\t".join([stamp, f"{float(t):g}", *cells]))
    text = "\r\n".join(lines) + "\r\n"
    with atomic_path(path) as tmp:
        tmp.write_bytes(text.encode("utf-8"))
    return Path(path)


_PALETTE = (
    0xFF1F77B4, 0xFFFF7F0E, 0xFF2CA02C, 0xFFD62728, 0xFF9467BD,
    0xFF8C564B, 0xFFE377C2, 0xFF7F7F7F, 0xFFBCBD22, 0xFF17BECF,
)  # fmt: skip


def _argb(i: int) -> int:
    value = _PALETTE[i % len(_PALETTE)]
    return value - (1 << 32)  # signed 32-bit, as .PlateMap files store colours


def write_plate_map_xml(
    plate: pd.DataFrame,
    path: str | os.PathLike,
    *,
    rows: int = 8,
    columns: int = 12,
) -> Path:
    """Write a plate map as an IncuCyte ``.PlateMap`` XML file (UTF-8 with a BOM).

    Every well of the plate is listed with 0-based ``row``/``col``; an annotated well has a
    ``wellItem type="CellType"`` and, when treated or untreated, a ``wellItem
    type="Compound"`` whose ``referenceItem displayName`` is the treatment, with
    ``concentration`` and ``concentrationUnits`` when it has a dose. A ``seeding_density``
    column (cells per well) becomes the CellType item's ``seedingDensity``. The vehicle
    (``control``) is not written: IncuCyte would read a second compound as a combination.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> plate = pd.DataFrame({"well": ["B2"], "cell_line": ["M407"], "treatment": ["IFN gamma"],
    ...                       "dose": [100.0], "dose_unit": ["ng/ml"]})
    >>> p = write_plate_map_xml(plate, pathlib.Path(tempfile.mkdtemp()) / "p.PlateMap")
    >>> raw = p.read_bytes()
    >>> raw[:3] == b"\\xef\\xbb\\xbf", b'concentration="100" concentrationUnits="ng/ml"' in raw
    (True, True)
    """
    compounds = list(dict.fromkeys(plate["treatment"].astype(str)))
    lines_ = list(dict.fromkeys(plate["cell_line"].astype(str)))
    colour = {("Compound", c): _argb(i) for i, c in enumerate(compounds)}
    colour.update({("CellType", c): _argb(i + 5) for i, c in enumerate(lines_)})

    def ref(kind: str, name: str) -> str:
        q = quoteattr(name)
        return (
            f'<referenceItem type="{kind}" description={q} displayName={q} '
            f'colorArgb="{colour[kind, name]}" />'
        )

    by_well = {str(r["well"]): r for _, r in plate.iterrows()}
    out = ['<?xml version="1.0" encoding="utf-8"?>', "<plateMap>", "  <referenceItemManager>"]
    out.append("    <referenceItems>")
    out += [f"      {ref('Compound', c)}" for c in compounds]
    out += [f"      {ref('CellType', c)}" for c in lines_]
    out += ["    </referenceItems>", "  </referenceItemManager>", "  <wellStore>", "    <wells>"]
    for r in range(rows):
        for c in range(columns):
            well = f"{chr(65 + r)}{c + 1}"
            row = by_well.get(well)
            if row is None:
                out.append(f'      <well row="{r}" col="{c}" />')
                continue
            out += [f'      <well row="{r}" col="{c}">', "        <items>"]
            density = row.get("seeding_density", np.nan)
            cell_attrs = (
                ""
                if pd.isna(density)
                else f' seedingDensity="{float(density):g}" seedingDensityUnits="cells/well"'
            )
            out += [
                f'          <wellItem type="CellType"{cell_attrs}>',
                f"            {ref('CellType', str(row['cell_line']))}",
                "          </wellItem>",
            ]
            dose = row.get("dose", np.nan)
            attrs = ""
            if dose is not None and not pd.isna(dose):
                unit = "" if pd.isna(row.get("dose_unit", "")) else str(row.get("dose_unit", ""))
                attrs = f' concentration="{float(dose):g}" concentrationUnits={quoteattr(unit)}'
            out += [
                f'          <wellItem type="Compound"{attrs}>',
                f"            {ref('Compound', str(row['treatment']))}",
                "          </wellItem>",
            ]
            out += ["        </items>", "      </well>"]
    out += ["    </wells>", "  </wellStore>", "</plateMap>"]
    with atomic_path(path) as tmp:
        tmp.write_bytes(("\r\n".join(out) + "\r\n").encode("utf-8-sig"))
    return Path(path)


# --------------------------------------------------------------------------------------
# The experiment


def _window(shape, crop) -> tuple[int, int, int, int]:
    h, w = shape
    if crop is None:
        return (0, 0, h, w)
    ch, cw = _check_shape(crop, "crop")
    if ch > h or cw > w:
        raise IncugrowthError(f"crop {ch} x {cw} is larger than the frame {h} x {w}")
    return ((h - ch) // 2, (w - cw) // 2, ch, cw)


def simulate_experiment(
    outdir: str | os.PathLike,
    *,
    design: str | Design = "fig4",
    seed: int = 0,
    frame_shape: tuple[int, int] = REFERENCE_SHAPE,
    times: Sequence[float] | None = None,
    fields: int = 1,
    wells: Sequence[str] | None = None,
    frame_times: Sequence[float] | None = None,
    crop: tuple[int, int] | None = None,
    render_frames: bool = True,
    jobs: int | None = None,
    progress: bool = True,
) -> dict:
    """Simulate an IncuCyte experiment folder with known truth.

    Parameters
    ----------
    outdir : path
        Output folder (created); see the module docstring for its layout.
    design : str or Design
        ``"fig4"`` (default), ``"doses"``, a CSV design table, or a :class:`Design`.
    seed : int
        Random seed; the same seed gives byte-identical files.
    frame_shape : (height, width)
        Full frame size; seeding and capacity scale with its area (default 1040 x 1408).
    times : sequence of float, optional
        Scan times in hours for the export and truth (default every 4 h, 0-96 h).
    fields : int
        Images per well.
    wells : sequence of str, optional
        Render frames of these wells only; the export and truth counts cover every well.
    frame_times : sequence of float, optional
        Render frames at these times only (each must be one of ``times``).
    crop : (height, width), optional
        Write only the centre window of each frame, at the same nucleus size; only nuclei
        whose centres fall in it are drawn and listed in ``truth.csv``, and their number is
        ``count_in_frame`` in ``truth_counts.csv`` (``count`` stays the full frame's).
    render_frames : bool
        False writes only the truth counts (and an empty ``truth.csv``), the export and the
        plate maps (fast).
    jobs : int, optional
        Worker processes for rendering (default: all cores; 1 renders in this process).
    progress : bool
        Show a progress bar while rendering.

    Returns
    -------
    dict
        ``outdir``, ``design``, ``seed``, ``paths`` (name -> path of each file written),
        ``n_wells``, ``n_fields``, ``n_times``, ``n_frames`` (frames rendered per channel),
        ``render_seconds``, ``frames_per_s`` and ``pct_change`` (mean percent change of the
        true counts per condition at the time closest to 72 h).

    Examples
    --------
    >>> import tempfile
    >>> info = simulate_experiment(tempfile.mkdtemp(), times=[0, 24, 72], render_frames=False,
    ...                            progress=False)
    >>> info["n_wells"], info["n_frames"], sorted(info["paths"])[:3]
    (90, 0, ['export', 'plate_map_csv', 'plate_map_xml'])
    """
    d = get_design(design)
    t = _check_times(times)
    shape = _check_shape(frame_shape, "frame_shape")
    window = _window(shape, crop)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)

    counts = simulate_counts(d, seed=seed, times=t, fields=fields, frame_shape=shape)
    plate = d.plate_map()
    paths = {
        "plate_map_csv": write_csv(plate, out / "plate_map.csv"),
        "plate_map_xml": write_plate_map_xml(
            plate.assign(seeding_density=(d.wells["seeding"] * CELLS_PER_WELL).round(-2)),
            out / "plate_map.PlateMap",
        ),
        "export": write_export(
            counts, out / "export_red_count.txt", vessel=f"sim_{d.name} (seed {seed})"
        ),
    }

    render_wells = list(d.wells["well"]) if wells is None else _check_wells(wells, d)
    render_times = t if frame_times is None else _check_frame_times(frame_times, t)
    tasks = []
    if render_frames:
        area = (shape[0] * shape[1]) / (d.reference_shape[0] * d.reference_shape[1])
        seeding = d.wells.set_index("well")["seeding"]
        for well in render_wells:
            code = _well_code(well)
            for f in range(1, int(fields) + 1):
                sel = counts[(counts["well"] == well) & (counts["field"] == f)]
                sel = sel[np.isin(sel["elapsed_h"].to_numpy(), render_times)]
                tasks.append(
                    {
                        "seed": int(seed),
                        "well": well,
                        "code": code,
                        "field": f,
                        "shape": shape,
                        "window": window,
                        "counts": sel["count"].to_numpy(),
                        "times": sel["elapsed_h"].to_numpy(),
                        "out_of_focus": sel["out_of_focus"].to_numpy(),
                        "founders": int(round(_seeded(seed, code, f, seeding[well] * area))),
                        "prefix": f"sim_{d.name}",
                        "outdir": str(out),
                    }
                )
    started = _time.perf_counter()
    truth_parts, stats = _run_tasks(tasks, jobs=jobs, progress=progress)
    seconds = _time.perf_counter() - started

    truth_cols = ["well", "field", "elapsed_h", "y", "x", "radius", "axis_ratio", "angle_deg",
                  "brightness", "dividing"]  # fmt: skip
    truth = (
        pd.concat(truth_parts, ignore_index=True)
        if truth_parts
        else pd.DataFrame(columns=truth_cols)
    )
    keys = ["well", "field", "elapsed_h"]
    truth_counts = counts[[*keys, "count", "expected", "out_of_focus"]].copy()
    truth_counts["expected"] = truth_counts["expected"].round(3)
    frame_stats = pd.DataFrame(stats, columns=[*keys, "count_in_frame", "confluence_true"])
    truth_counts = truth_counts.merge(frame_stats, on=keys, how="left")
    truth_counts["count_in_frame"] = truth_counts["count_in_frame"].astype("Int64")
    if len(truth):
        order = {w: i for i, w in enumerate(d.wells["well"])}
        truth = truth.sort_values(
            keys, key=lambda s: s.map(order) if s.name == "well" else s, kind="stable"
        ).reset_index(drop=True)
    paths["truth"] = write_csv(truth, out / "truth.csv")
    paths["truth_counts"] = write_csv(truth_counts, out / "truth_counts.csv")
    if render_frames:
        paths["frames"] = out / "frames"

    n_frames = len(stats)
    return {
        "outdir": out,
        "design": d.name,
        "seed": int(seed),
        "paths": paths,
        "n_wells": len(d.wells),
        "n_fields": int(fields),
        "n_times": len(t),
        "n_frames": n_frames,
        "render_seconds": round(seconds, 3),
        "frames_per_s": round(n_frames / seconds, 2) if n_frames and seconds > 0 else None,
        "pct_change": _pct_change_summary(counts, 72.0),
    }


def _check_wells(wells, d: Design) -> list[str]:
    known = set(d.wells["well"])
    chosen = [_canonical_well_or_raise(str(w)) for w in wells]
    missing = [w for w in chosen if w not in known]
    if missing:
        raise IncugrowthError(
            f"wells not in design {d.name!r}: {', '.join(missing)} (the design has "
            f"{len(known)} wells, e.g. {', '.join(list(d.wells['well'])[:3])})"
        )
    return list(dict.fromkeys(chosen))


def _check_frame_times(frame_times, t: np.ndarray) -> np.ndarray:
    ft = _check_times(frame_times)
    missing = [x for x in ft if not np.any(np.isclose(t, x))]
    if missing:
        raise IncugrowthError(
            f"frame_times {', '.join(f'{x:g}' for x in missing)} h are not among the scan times"
        )
    return t[np.isin(np.round(t, 6), ft)]


def _run_tasks(tasks: list[dict], *, jobs: int | None, progress: bool):
    from tqdm.auto import tqdm

    if not tasks:
        return [], []
    jobs = (os.cpu_count() or 1) if jobs is None else int(jobs)
    jobs = max(1, min(jobs, len(tasks)))
    results: list = [None] * len(tasks)
    bar = tqdm(total=len(tasks), desc="rendering", unit="field", disable=not progress)
    try:
        if jobs == 1:
            for i, task in enumerate(tasks):
                results[i] = _render_task(task)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(_render_task, task): i for i, task in enumerate(tasks)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update()
    finally:
        bar.close()
    truth = [r[0] for r in results]
    stats = [s for r in results for s in r[1]]
    return truth, stats


def _pct_change_summary(counts: pd.DataFrame, at: float) -> list[dict]:
    times = np.unique(counts["elapsed_h"])
    t_end = float(times[np.abs(times - at).argmin()])
    t0 = float(times.min())
    well = counts.groupby(["well", "elapsed_h"], as_index=False)["count"].mean()
    base = well[well["elapsed_h"] == t0].set_index("well")["count"]
    end = well[well["elapsed_h"] == t_end].set_index("well")["count"]
    pct = (100.0 * (end / base - 1.0)).rename("pct_change").reset_index()
    meta = counts.drop_duplicates("well")[["well", "cell_line", "treatment", "dose"]]
    pct = meta.merge(pct, on="well")  # keeps the design's order of conditions
    summary = pct.groupby(["cell_line", "treatment", "dose"], dropna=False, sort=False)[
        "pct_change"
    ].agg(["mean", "std"])
    return [
        {
            "cell_line": cl,
            "treatment": tr,
            "dose": None if pd.isna(dose) else float(dose),
            "elapsed_h": t_end,
            "pct_change_mean": round(float(row["mean"]), 1),
            "pct_change_sd": round(float(row["std"]), 1) if pd.notna(row["std"]) else None,
        }
        for (cl, tr, dose), row in summary.iterrows()
    ]
