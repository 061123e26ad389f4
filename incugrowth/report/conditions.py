"""The run's control and growth measure, and the order and colours of its conditions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from incugrowth.tables import measure_word


def _control_of(run: dict) -> str:
    return (run.get("parameters") or {}).get("control") or "untreated"


def _order(values, control: str) -> list:
    seen = list(dict.fromkeys(v for v in values if v == v))
    return sorted(seen, key=lambda t: t != control)


def _orders(tables, control: str) -> tuple[list, list]:
    """Cell lines and treatments in plate-map order (control first), used by every section."""
    source = tables["curves"] if tables["curves"] is not None else tables["growth"]
    return list(dict.fromkeys(source["cell_line"])), _order(source["treatment"], control)


def _rank(order: list):
    index = {v: i for i, v in enumerate(order)}
    return lambda v: index.get(v, len(index))


def _dose_key(dose) -> float:
    try:
        dose = float(dose)
    except (TypeError, ValueError):
        return -math.inf
    return -math.inf if dose != dose else dose


class _Conditions:
    """Condition labels: the treatment, with its dose when the treatment has several doses.

    Built once from the growth table so that every table and figure names (and orders) the
    conditions alike: treatments in plate order with the control first, doses ascending.
    """

    def __init__(self, source: pd.DataFrame, treatments: list):
        from incugrowth.plots import condition_label

        has_dose = "dose" in source.columns
        cols = [c for c in ("treatment", "dose", "dose_unit") if c in source.columns]
        unique = source[cols].drop_duplicates([c for c in cols if c != "dose_unit"])
        self.multi: set = set()
        if has_dose:
            n_doses = unique.groupby("treatment")["dose"].nunique()
            self.multi = set(n_doses[n_doses > 1].index)
        rank = _rank(treatments)
        records = sorted(
            unique.to_dict("records"),
            key=lambda r: (rank(r["treatment"]), _dose_key(r.get("dose"))),
        )
        self.labels = {
            self._key(r): condition_label(r, r["treatment"] in self.multi) for r in records
        }
        self.order = list(dict.fromkeys(self.labels.values()))

    @staticmethod
    def _key(r) -> tuple:
        dose = _dose_key(r.get("dose", np.nan))
        return (r["treatment"], None if dose == -math.inf else dose)

    def label(self, df: pd.DataFrame) -> pd.Series:
        """The condition label of each row of ``df`` (``treatment``, optionally ``dose``)."""
        from incugrowth.plots import condition_label

        records = df[[c for c in ("treatment", "dose", "dose_unit") if c in df.columns]]
        out = [
            self.labels.get(self._key(r)) or condition_label(r, r["treatment"] in self.multi)
            for r in records.to_dict("records")
        ]
        return pd.Series(out, index=df.index, dtype=object)

    def ordered(self, present) -> list:
        present = set(present)
        extra = [c for c in dict.fromkeys(present) if c not in self.order]
        return [c for c in self.order if c in present] + sorted(extra, key=str)


def _colors(tables) -> dict[str, str]:
    """Treatment colours as the growth-curve figures assign them (order of the curves)."""
    from incugrowth.plots import treatment_colors

    source = tables["curves"] if tables["curves"] is not None else tables["growth"]
    return treatment_colors(list(dict.fromkeys(source["treatment"])))


def _measure_word(run: dict | None) -> str:
    """The growth measure of a run in words (``"cell count"``, or ``"confluence"`` when
    the run measured phase confluence instead of counting nuclei)."""
    return measure_word(((run or {}).get("parameters") or {}).get("measure", "count"))
