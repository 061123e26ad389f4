"""simulate_plates: repeated plates of one experiment, with plate and plate x condition effects.

The same design run on N days: every well's growth rate is multiplied by a plate factor
(overall growth differs between days, ``exp(plate_sd * z_plate)``) and by a plate x condition
factor (``exp(condition_sd * z_plate_condition)``: the treatment effects are not exactly the
same on every plate). Each plate is a whole experiment folder (:func:`simulate_experiment`)
in ``plate<k>/`` with its own seed; the factors are recorded in ``plates.csv`` and
``plate_conditions.csv``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from incugrowth._io import write_csv
from incugrowth.errors import IncugrowthError
from incugrowth.simulate._common import _STREAM_PLATE, _rng
from incugrowth.simulate.designs import Design, get_design
from incugrowth.simulate.experiment import simulate_experiment

__all__ = ["PLATE_SD", "PLATE_CONDITION_SD", "simulate_plates"]

PLATE_SD = 0.08  # lognormal SD of the growth rate between plates (days)
PLATE_CONDITION_SD = 0.03  # lognormal SD of a condition's growth rate between plates


def simulate_plates(
    outdir: str | os.PathLike,
    n_plates: int,
    *,
    design: str | Design = "fig4",
    seed: int = 0,
    plate_sd: float = PLATE_SD,
    condition_sd: float = PLATE_CONDITION_SD,
    **options,
) -> dict:
    """Simulate ``n_plates`` repeated plates of one experiment, each in ``plate<k>/``.

    Parameters
    ----------
    outdir : path
        Output folder; plate ``k`` is written to ``outdir/plate<k>`` as by
        :func:`simulate_experiment`.
    n_plates : int
        Number of plates (>= 1).
    design, seed
        As in :func:`simulate_experiment`; plate ``k`` uses seed ``seed * 1000 + k``.
    plate_sd, condition_sd : float
        Lognormal SDs of the plate factor and the plate x condition factor on the growth
        rate.
    **options
        Passed on to :func:`simulate_experiment` (``times``, ``render_frames``, ...).

    Returns
    -------
    dict
        ``outdir``, ``plates`` (the result of :func:`simulate_experiment` per plate) and
        ``paths`` of ``plates.csv`` (plate, seed, rate_factor) and ``plate_conditions.csv``
        (plate, cell_line, treatment, rate_factor: the plate's factor times the condition's).

    Examples
    --------
    >>> import tempfile
    >>> info = simulate_plates(tempfile.mkdtemp(), 2, times=[0, 72], render_frames=False,
    ...                        progress=False)
    >>> [p["outdir"].name for p in info["plates"]]
    ['plate1', 'plate2']
    """
    if not isinstance(n_plates, int | np.integer) or n_plates < 1:
        raise IncugrowthError(f"the number of plates must be at least 1, got {n_plates!r}")
    if plate_sd < 0 or condition_sd < 0:
        raise IncugrowthError("plate_sd and condition_sd must be >= 0")
    base = get_design(design)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    conditions = list(dict.fromkeys(zip(base.wells["cell_line"], base.wells["treatment"])))
    plates, rows, cond_rows = [], [], []
    for k in range(1, int(n_plates) + 1):
        g = _rng(seed, _STREAM_PLATE, 1000 + k)
        plate_factor = float(np.exp(plate_sd * g.normal()))
        factors = {c: float(np.exp(condition_sd * g.normal())) for c in conditions}
        wells = base.wells.copy()
        per_well = [factors[c] for c in zip(wells["cell_line"], wells["treatment"])]
        wells["rate_per_h"] = wells["rate_per_h"] * plate_factor * np.asarray(per_well)
        plate_design = Design(base.name, wells, base.description, base.reference_shape)
        plate_seed = int(seed) * 1000 + k
        plates.append(
            simulate_experiment(out / f"plate{k}", design=plate_design, seed=plate_seed, **options)
        )
        rows.append({"plate": f"plate{k}", "seed": plate_seed, "rate_factor": plate_factor})
        cond_rows += [
            {
                "plate": f"plate{k}",
                "cell_line": c[0],
                "treatment": c[1],
                "rate_factor": plate_factor * factors[c],
            }
            for c in conditions
        ]
    paths = {
        "plates": write_csv(pd.DataFrame(rows), out / "plates.csv"),
        "plate_conditions": write_csv(pd.DataFrame(cond_rows), out / "plate_conditions.csv"),
    }
    return {"outdir": out, "plates": plates, "paths": paths}
