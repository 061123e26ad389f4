"""The combined report's dead-cell parts: the verdict table and the methods sentence."""

from __future__ import annotations

from incugrowth.report.dead_cells import _VERDICTS, _rule, _verdict_rows

__all__ = ["combined_dead_methods", "combined_dead_section"]


def combined_dead_section(tables: dict, run: dict) -> dict | None:
    """The verdict table of a combine with a dead-cell input; None for one without."""
    effects = tables.get("effects")
    if effects is None:
        return None
    out: dict = {"rule": _rule(run), "verdicts": None, "tally": []}
    if len(effects):
        out["verdicts"] = _verdict_rows(effects)
        counts = effects["verdict"].value_counts()
        out["tally"] = [{"verdict": v, "n": int(counts[v])} for v in _VERDICTS if v in counts]
    return out


def combined_dead_methods(tables: dict, run: dict) -> str:
    """The methods sentence of the combined dead fraction, or "" without one.

    Examples
    --------
    >>> combined_dead_methods({"dead": None}, {"parameters": {}})
    ''
    >>> text = combined_dead_methods({"dead": object()}, {"parameters": {}})
    >>> "pct_dead ~ plate + cell line x treatment" in text
    True
    """
    if tables.get("dead") is None:
        return ""
    rule = _rule(run)
    return (
        "The dead fraction (dead / (live + dead), %) of each run was averaged over the wells "
        "of each plate and condition at the endpoint and analysed like growth (pct_dead ~ "
        "plate + cell line x treatment, Dunnett's comparisons with each treatment's control). "
        f"A treatment was called cytotoxic when its dead fraction was significantly above the "
        f"control's (adjusted P < {rule['alpha']:g}), cytostatic when growth was significantly "
        "below the control's without a higher dead fraction, no effect when neither differed, "
        f"and unclear otherwise (fewer than {rule['min_wells']} plates, growth above the "
        f"control, or GR below {rule['net_loss_gr']:g} without a rise in the dead fraction); "
        "GR is the mean of the plates' GR values at the endpoint."
    )
