"""The dish level of each well's phase frames, and the frames measured again with it.

Phase confluence counts the pixels whose local contrast stands out from the dish's (see
:func:`incugrowth.image.phase_mask`). A frame covered by cells shows no dish, so its own
dish level is that of its flattest cells and would cut the sheet in half. The batch path
takes the dish level of a well from its frames where the dish is visible (the lower
quartile of their levels: the early and sparse frames), or of the plate when the well has
fewer than :data:`MIN_FRAMES` frames with a level, and measures again, with that level,
the frames whose own level gave another threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MIN_FRAMES", "apply_dish_reference", "well_dish_levels"]

#: Fewest frames with a dish level for a well to have a level of its own (else the plate's).
MIN_FRAMES = 3


def well_dish_levels(phase: pd.DataFrame, records: pd.DataFrame) -> pd.Series:
    """The dish level for each phase frame: its well's, or the plate's.

    Parameters
    ----------
    phase : DataFrame
        The phase frames (``path``, ``well``).
    records : DataFrame
        Their records (``path``, ``dish_contrast``), as :func:`incugrowth.batch.count_frames`
        returns them for ``kind="confluence"``.

    Returns
    -------
    Series
        Indexed by ``path``; NaN where neither the well nor the plate has a level.

    Examples
    --------
    >>> phase = pd.DataFrame({"path": list("abcdef"), "well": ["A1"] * 4 + ["B1"] * 2})
    >>> rec = pd.DataFrame({"path": list("abcdef"),
    ...                     "dish_contrast": [0.006, 0.0062, 0.02, 0.03, 0.04, 0.05]})
    >>> well_dish_levels(phase, rec).round(4).tolist()  # B1 has 2 frames: the plate's
    [0.0062, 0.0062, 0.0062, 0.0062, 0.0096, 0.0096]
    """
    from incugrowth.image.confluence import reference_dish_contrast

    if "dish_contrast" not in records.columns:
        return pd.Series(np.nan, index=pd.Index(phase["path"], name="path"))
    level = pd.to_numeric(records.set_index("path")["dish_contrast"], errors="coerce")
    table = phase[["path", "well"]].assign(level=level.reindex(phase["path"]).to_numpy())
    valid = table["level"].where(table["level"] > 0)
    plate = reference_dish_contrast(valid.dropna())
    per_well = {}
    for well, values in valid.groupby(table["well"], sort=False):
        values = values.dropna()
        own = reference_dish_contrast(values) if len(values) >= MIN_FRAMES else None
        per_well[well] = own if own is not None else plate
    out = table["well"].map(per_well).astype(float)
    return pd.Series(out.to_numpy(), index=pd.Index(table["path"], name="path"))


class _MeasureWithDish:
    """Picklable: measure a phase frame with the dish level given for its path."""

    def __init__(self, levels: dict):
        self.levels = levels

    def __call__(self, path: str) -> dict:
        from incugrowth.batch import measure_path

        return measure_path(path, kind="confluence", dish=self.levels[path])


def apply_dish_reference(phase: pd.DataFrame, records: pd.DataFrame, jobs: int | None = None):
    """`records` with each frame's confluence at its well's (or the plate's) dish level.

    Only frames whose own level gave another threshold are read and measured again (in
    `jobs` local processes); the records gain ``dish_reference``, the level used.
    """
    from incugrowth.batch import _run_local
    from incugrowth.image.confluence import EPSILON, MIN_CONTRAST, dish_level

    records = records.copy()
    levels = well_dish_levels(phase, records)
    records["dish_reference"] = levels.reindex(records["path"]).to_numpy()
    if "confluence" not in records.columns or levels.isna().all():
        return records
    own = pd.to_numeric(records.get("dish_contrast"), errors="coerce")
    ok = records["confluence"].notna() & own.notna() & records["dish_reference"].notna()
    used = np.array([max(MIN_CONTRAST * dish_level(o), EPSILON) for o in own.fillna(0)])
    reference = records["dish_reference"].fillna(0)
    wanted = np.array([max(MIN_CONTRAST * dish_level(0, r), EPSILON) for r in reference])
    again = ok & ~np.isclose(used, wanted, rtol=0.02)
    if not again.any():
        return records
    todo = records.loc[again, "path"].astype(str).tolist()
    fn = _MeasureWithDish(dict(zip(todo, records.loc[again, "dish_reference"].astype(float))))
    jobs = 1 if len(todo) < 8 else (jobs or 1)
    new = {rec["path"]: rec for rec in _run_local(fn, todo, jobs)}
    index = records.index[again]
    records.loc[index, "confluence"] = [new[p].get("confluence", np.nan) for p in todo]
    return records
