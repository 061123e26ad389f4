"""The dead fraction of combined plates: its tables, block statistics and the verdicts.

When every run of a combine had a dead-cell input (its ``dead.csv``), the dead fraction is
analysed as growth is (:mod:`incugrowth.combine`): the endpoint rows of each run
(:func:`incugrowth.dead.dead_endpoint`) are averaged per plate x condition, and the means
are analysed with the plate as a block, ``pct_dead ~ plate + cell_line * treatment``
(``anova_dead.csv``, ``dunnett_dead.csv``). ``effects.csv`` holds the verdict of
:func:`incugrowth.dead.verdict` from the combined Dunnett's comparisons of growth and of the
dead fraction, where ``n_treatment`` and ``n_control`` count plates; GR beside it is the
mean over plates of each plate's GR at its endpoint (``gr.csv`` of the runs).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthError

__all__ = ["DEAD_MODEL", "DEAD_TABLES", "combined_dead", "missing_dead_warning", "read_dead"]

#: Tables written when every run had a dead-cell input, in order.
DEAD_TABLES = ("dead", "dead_curves", "anova_dead", "dunnett_dead", "effects")
#: The model of the dead fraction, in words, as run.json and the report state it.
DEAD_MODEL = "pct_dead ~ plate + cell_line * treatment (plate x condition means)"


def read_dead(path) -> pd.DataFrame | None:
    """The ``dead.csv`` of a run folder, or None when the run had no dead-cell input.

    Raises
    ------
    IncugrowthError
        The file is there but cannot be read or lacks ``pct_dead``.
    """
    from incugrowth.combine import _read_table

    file = path / "dead.csv"
    if not file.exists():
        return None
    table = _read_table(file, path, "the dead fraction")
    if "pct_dead" not in table.columns or "well" not in table.columns:
        raise IncugrowthError(f"{file}: no pct_dead column; rerun the plate with its dead input")
    for col in ("cell_line", "treatment"):
        table[col] = table[col].astype(str)
    return table


def missing_dead_warning(plates: list[str], dead: list[pd.DataFrame | None]) -> str | None:
    """The warning when only some runs had a dead-cell input; None when all or none had.

    Examples
    --------
    >>> missing_dead_warning(["d1", "d2"], [pd.DataFrame(), None])  # doctest: +ELLIPSIS
    'a dead-cell input (dead.csv) is in 1 of 2 runs (not in d2): no dead-fraction analysis...'
    >>> missing_dead_warning(["d1", "d2"], [None, None]) is None
    True
    """
    lacking = [p for p, d in zip(plates, dead) if d is None]
    if not lacking or len(lacking) == len(plates):
        return None
    return (
        f"a dead-cell input (dead.csv) is in {len(plates) - len(lacking)} of {len(plates)} runs "
        f"(not in {', '.join(lacking)}): no dead-fraction analysis; rerun those plates with "
        "--dead-metric or --dead-channel to have one"
    )


def _plate_gr(runs) -> pd.DataFrame | None:
    """Each plate's GR values at its endpoint (``plate``, ``cell_line``, ``treatment``,
    ``dose``, ``gr``), or None when a run has no ``gr.csv``."""
    parts = []
    for run in runs:
        path = run.path / "gr.csv"
        if not path.exists():
            return None
        gr = pd.read_csv(path)
        if not {"cell_line", "treatment", "elapsed_h", "gr"} <= set(gr.columns):
            return None
        hours = set(run.endpoint["elapsed_h"].astype(float).round(3))
        gr = gr[gr["elapsed_h"].astype(float).round(3).isin(hours)]
        for col in ("cell_line", "treatment"):
            gr[col] = gr[col].astype(str)
        parts.append(gr.assign(plate=run.plate))
    return pd.concat(parts, ignore_index=True) if parts else None


def combined_dead(
    runs,
    dead: list[pd.DataFrame],
    growth_dunnett: pd.DataFrame | None,
    *,
    control: str,
    vehicles: Mapping[str, str],
    messages: list[str],
) -> dict[str, pd.DataFrame]:
    """The dead-fraction tables of combined plates (see the module docstring).

    Parameters
    ----------
    runs : list of incugrowth.combine.Run
        The runs combined, in order.
    dead : list of pandas.DataFrame
        Each run's ``dead.csv``.
    growth_dunnett : pandas.DataFrame or None
        The combined Dunnett's comparisons of growth (``dunnett.csv`` of the combine).
    control, vehicles
        The control and each treatment's own control, as for growth.
    messages : list of str
        What could not be computed is appended here.

    Returns
    -------
    dict
        ``dead`` (the runs' rows with ``plate`` first), ``dead_curves`` (mean of the plate
        means at each time, SD and SEM across plates, ``n_plates``), ``anova_dead``,
        ``dunnett_dead`` and ``effects`` (those computed).
    """
    from incugrowth import dead as dead_cells
    from incugrowth.combine import _curves, _dose_labels, plate_means
    from incugrowth.stats.blocks import block_anova, block_dunnett

    rows = pd.concat([d.assign(plate=r.plate) for r, d in zip(runs, dead)], ignore_index=True)
    out = {"dead": rows[["plate", *[c for c in rows.columns if c != "plate"]]]}
    labelled, _ = _dose_labels(rows, vehicles)
    out["dead_curves"], _ = _curves(runs, labelled, value="pct_dead")
    at_end = pd.concat(
        [dead_cells.dead_endpoint(d, r.endpoint).assign(plate=r.plate) for r, d in zip(runs, dead)],
        ignore_index=True,
    )
    at_end, merged = _dose_labels(at_end, vehicles)
    means = plate_means(at_end, dv="pct_dead")
    steps = (
        ("anova_dead", lambda: block_anova(means, dv="mean")),
        (
            "dunnett_dead",
            lambda: block_dunnett(means, dv="mean", control=control, controls=merged or None),
        ),
    )
    for name, step in steps:
        try:
            out[name] = step()
        except IncugrowthError as exc:
            messages.append(f"{name} not computed: {exc}")
    gr = _plate_gr(runs)
    if gr is None:
        messages.append("effects.csv: GR left empty (a run has no gr.csv)")
    else:
        gr, _ = _dose_labels(gr, vehicles)
    out["effects"] = dead_cells.effects_table(
        growth_dunnett, out.get("dunnett_dead"), gr=gr, doses=at_end
    )
    if gr is None:
        out["effects"]["gr"] = np.nan
    return out


def dead_results(tables: dict) -> dict:
    """The numbers of the dead-fraction block model run.json records (error term)."""
    if "dunnett_dead" not in tables:
        return {}
    attrs = tables["dunnett_dead"].attrs
    return {"ms_resid": float(attrs["ms_resid"]), "df_resid": int(attrs["df_resid"])}
