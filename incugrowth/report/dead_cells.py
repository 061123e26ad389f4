"""The report's dead-cell parts: the verdict table, the dead-fraction curves and statistics."""

from __future__ import annotations

import pandas as pd

from incugrowth.report.endpoint import _anova_rows, _dunnett_rows
from incugrowth.report.formatting import format_number, format_p
from incugrowth.report.inline import _Figures

#: Order of the verdicts in the summary counts.
_VERDICTS = ("cytotoxic", "cytostatic", "no effect", "unclear")


def _rule(run: dict) -> dict:
    """The constants of the verdict rule the run used (run.json), else the defaults."""
    from incugrowth.dead import VERDICT_RULE

    given = (run.get("parameters") or {}).get("dead_verdict") or {}
    return {**VERDICT_RULE, **given}


def _verdict_rows(effects: pd.DataFrame) -> list[dict]:
    rows = []
    for r in effects.to_dict("records"):
        rows.append(
            {
                "cell_line": r.get("cell_line", ""),
                "treatment": r.get("treatment", ""),
                "control": r.get("control", ""),
                "verdict": r.get("verdict", ""),
                "gr": format_number(r.get("gr"), 2),
                "growth_stars": r.get("growth_stars") or "",
                "pct_dead": format_number(r.get("pct_dead"), 3),
                "pct_dead_control": format_number(r.get("pct_dead_control"), 3),
                "dead_stars": r.get("dead_stars") or "",
                "dead_p": format_p(r.get("dead_p_adj")),
                "reason": r.get("reason", ""),
            }
        )
    return rows


def _dead_section(tables: dict, run: dict, figs: _Figures, control: str) -> dict | None:
    """What the report shows of a run with a dead-cell input; None for a run without one."""
    effects, curves = tables.get("effects"), tables.get("dead_curves")
    if curves is None and effects is None:
        return None
    out: dict = {"rule": _rule(run), "verdicts": None, "tally": [], "figure": None}
    if effects is not None and len(effects):
        out["verdicts"] = _verdict_rows(effects)
        counts = effects["verdict"].value_counts()
        out["tally"] = [{"verdict": v, "n": int(counts[v])} for v in _VERDICTS if v in counts]
    if curves is not None and len(curves):
        from incugrowth.dead_figures import dead_fraction_figure

        end = tables.get("endpoint")
        at = float(end["endpoint_h"].iloc[0]) if end is not None and len(end) else None
        fig = dead_fraction_figure(
            curves, stars=tables.get("dunnett_dead"), control=control, endpoint_h=at
        )
        out["figure"] = figs.svg(fig, "dead_fraction")
        out["endpoint_h"] = f"{at:g}" if at is not None else None
    out["anova"] = _anova_rows(tables.get("anova_dead"))
    out["dunnett"] = _dunnett_rows(tables.get("dunnett_dead"))
    return out


def dead_methods(tables: dict, run: dict) -> str:
    """The methods sentences of the dead-cell channel, or "" for a run without one."""
    dead = tables.get("dead")
    if dead is None:
        return ""
    params = run.get("parameters") or {}
    rule = _rule(run)
    if params.get("dead_channel"):
        source = (
            f"counted in the {params['dead_channel']} (dead-cell dye) frames with the same "
            "counter and nucleus size as the nuclear channel"
        )
    else:
        source = (
            f"read from the export metric \u201c{params.get('dead_metric', 'dead count')}\u201d"
        )
    text = (
        f"Dead cells were {source}; the dead fraction of each well and time is 100 \u00d7 "
        "dead / (live + dead), the live count being the nuclear count. The dead fraction at "
        "the endpoint was analysed like growth (the same ANOVA and Dunnett's comparisons with "
        "each treatment's control). A treatment was called cytotoxic when its dead fraction "
        f"was significantly above its control's (adjusted P < {rule['alpha']:g}), cytostatic "
        "when its growth was significantly below its control's without a significant rise in "
        "the dead fraction, and of no effect when neither differed; it was called unclear "
        f"when a comparison was missing, fewer than {rule['min_wells']} wells had a dead "
        "fraction, growth was significantly above the control's, or growth was inhibited "
        f"with a GR value below {rule['net_loss_gr']:g} (net loss of live cells) without a "
        "rise in the dead fraction."
    )
    return text
