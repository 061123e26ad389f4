"""Plate designs: the Design table, the registry of named designs, the fig4 and doses designs."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthError
from incugrowth.simulate._common import REFERENCE_SHAPE

_PLATE_COLUMNS = ["well", "cell_line", "treatment", "dose", "dose_unit", "control"]
_KINETIC_DEFAULTS = {
    "capacity": 3500.0,
    "lag_h": 8.0,
    "onset_h": 16.0,
    "effect": 0.0,
    "background_dead": 0.05,
    "kill_rate_per_h": 0.0,
}
_REQUIRED = ["well", "cell_line", "treatment", "seeding", "rate_per_h"]


@dataclass(frozen=True, eq=False)
class Design:
    """A plate design: one row per well with its annotation and growth kinetics.

    ``wells`` has the plate-map columns ``well``, ``cell_line``, ``treatment``, ``dose``,
    ``dose_unit``, ``control`` (the vehicle control of the treatment, or empty),
    ``replicate``, and the kinetics ``seeding`` (nuclei per full frame at plating),
    ``rate_per_h`` (specific growth rate), ``capacity`` (nuclei per full frame at
    confluence), ``lag_h`` (time constant of the ramp-up after plating), ``onset_h`` (time
    the treatment starts to act) and ``effect`` (fraction of the growth rate removed after the
    onset: 0 no effect, 1 full cytostasis, above 1 net loss). The dead-cell channel has
    ``background_dead`` (the share of dead cells among all cells without treatment, the same
    at every time) and ``kill_rate_per_h`` (dead cells made per live cell and hour from the
    onset on; they stay labelled). The live count is as ``effect`` sets it: the net of
    division and death.

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
    for col in ("seeding", "rate_per_h", *_KINETIC_DEFAULTS):
        df[col] = pd.to_numeric(df[col], errors="raise").astype(float)
    dead = ~df["background_dead"].between(0.0, 1.0, inclusive="left")
    dead |= df["kill_rate_per_h"] < 0
    if dead.any():
        raise IncugrowthError(
            f"design {name!r}: well {df.loc[dead, 'well'].iloc[0]}: background_dead must be "
            "from 0 to below 1 and kill_rate_per_h 0 or more"
        )
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
# Dead cells made per live cell and hour from the onset (the dead-cell channel): cGAMP kills
# (cytotoxic) where it acts, every line but JAK1-KO; the interferons only slow growth
# (cytostatic), with the background share of dead cells (BACKGROUND_DEAD) of every well.
CGAMP_KILL_RATE = 0.02
BACKGROUND_DEAD = 0.05
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
            acts = _FIG4_EFFECTS[line].get(treatment, 0.0) > 0
            kill = CGAMP_KILL_RATE if treatment == "2'3'-cGAMP" and acts else 0.0
            for rep in (1, 2, 3):
                well = f"{_ROWS[i // 12]}{i % 12 + 1}"
                rows.append(
                    (well, line, treatment, dose, unit, control, rep, 220.0,
                     _FIG4_RATES[line], 3500.0, 8.0, 16.0, effect, BACKGROUND_DEAD, kill)
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
def doses_design(
    *,
    emax: float = 0.9,
    ec50: float = 2.0,
    hill: float = 1.0,
    kill_max: float = 0.04,
    kill_ec50: float = 30.0,
    kill_hill: float = 3.0,
) -> Design:
    """IFN gamma dose response on M407: untreated and 0.1-100 ng/ml, three replicate rows.

    Replicates are rows B-D; column 2 is untreated and columns 3-9 the doses, ascending. The
    effect follows a Hill curve, ``emax * d**hill / (ec50**hill + d**hill)``, and so does the
    kill rate of the dead-cell channel (``kill_max``, ``kill_ec50``, ``kill_hill``), steeper
    and at higher doses: low doses slow growth only (cytostatic), 30 and 100 ng/ml kill.
    """
    rows = []
    for r, row in enumerate("BCD", start=1):
        for c, dose in enumerate((np.nan, *DOSES_IFN_GAMMA), start=2):
            untreated = np.isnan(dose)
            effect = 0.0 if untreated else emax * dose**hill / (ec50**hill + dose**hill)
            kill = (
                0.0
                if untreated
                else kill_max * dose**kill_hill / (kill_ec50**kill_hill + dose**kill_hill)
            )
            rows.append(
                (f"{row}{c}", "M407", "untreated" if untreated else "IFN gamma", dose,
                 "" if untreated else "ng/ml", "", r, 220.0, 0.031, 3500.0, 8.0, 16.0, effect,
                 BACKGROUND_DEAD, kill)
            )  # fmt: skip
    cols = [*_PLATE_COLUMNS, "replicate", "seeding", "rate_per_h", *_KINETIC_DEFAULTS]
    return Design(
        "doses",
        pd.DataFrame(rows, columns=cols),
        description=f"IFN gamma dose response on M407 (Hill: Emax {emax}, EC50 {ec50} ng/ml)",
    )
