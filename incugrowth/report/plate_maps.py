"""The plate maps: the value of each well at the endpoint and its flagged images."""

from __future__ import annotations

from incugrowth.report.formatting import _hours
from incugrowth.report.inline import _Figures


def _plate_maps(tables, figs: _Figures, word: str = "cell count") -> dict:
    from incugrowth.report_figures import plate_heatmap_figure, plate_shape

    growth, counts, end = tables["growth"], tables["counts"], tables["endpoint"]
    out: dict = {"counts_svg": None, "qc_svg": None, "qc_total": 0, "qc_kinds": []}
    if growth is None or growth.empty:
        return out
    shape = plate_shape(list(growth["well"].unique()))
    if end is not None and len(end) and "endpoint_h" in end.columns:
        at = float(end["endpoint_h"].iloc[0])
    else:
        at = float(growth["elapsed_h"].max())
    out["counts_at"] = _hours(at)
    # the endpoint's rows (one scan, whose wells may lie minutes apart), else the last time
    rows = end if end is not None and len(end) else growth[growth["elapsed_h"] == at]
    values = rows.drop_duplicates("well").set_index("well")["count"]
    fig = plate_heatmap_figure(values, label=f"{word.capitalize()} at {at:g} h", shape=shape)
    out["counts_svg"] = figs.svg(fig, "plate_counts")
    out.update(_relative_map(rows, figs, shape, word, at))
    out["edge"] = _edge_rows(tables.get("edge_effects"))
    if counts is None or "qc_flag" not in counts.columns:
        out["qc_note"] = "The counts table has no QC flag column."
        return out
    flagged = counts[counts["qc_flag"].astype(str).str.strip() != ""]
    out["qc_total"] = len(flagged)
    out["qc_frames"] = len(counts)
    kinds = flagged["qc_flag"].astype(str).str.split(";").explode()
    out["qc_kinds"] = [
        {"flag": k, "n": int(n)} for k, n in kinds[kinds != ""].value_counts().items()
    ]
    if len(flagged):
        per_well = flagged.groupby("well").size().reindex(growth["well"].unique(), fill_value=0)
        fig = plate_heatmap_figure(
            per_well.astype(float),
            label="Flagged images (all times)",
            cmap="Reds",
            shape=shape,
            vmin=0,
            integer=True,
        )
        out["qc_svg"] = figs.svg(fig, "plate_qc")
    return out


def _relative_map(rows, figs: _Figures, shape, word: str, at: float) -> dict:
    """Each well's value against its condition's mean: the plate with the treatments'
    effects taken out, where position effects (an edge, a column) show."""
    from incugrowth.qc_plate import relative_to_condition
    from incugrowth.report_figures import plate_heatmap_figure

    if not {"cell_line", "treatment", "count"} <= set(rows.columns):
        return {}
    rel = relative_to_condition(rows, "count").dropna().round(0) + 0.0  # + 0.0: no "-0"
    if rel.empty:
        return {}
    lim = max(float(rel.abs().max()), 1.0)
    fig = plate_heatmap_figure(
        rel,
        label=f"{word.capitalize()} at {at:g} h vs. its condition's mean (%)",
        cmap="RdBu_r",
        fmt="{:+.0f}",
        shape=shape,
        vmin=-lim,
        vmax=lim,
    )
    return {"relative_svg": figs.svg(fig, "plate_relative")}


def _edge_rows(edge) -> dict | None:
    """The edge-effect table's conditions with both outer and inner wells, and its test."""
    from incugrowth.qc_plate import edge_effect_test
    from incugrowth.report.formatting import format_number, format_p

    if edge is None or edge.empty or "difference" not in edge.columns:
        return None
    both = edge.dropna(subset=["difference"])
    res = edge_effect_test(edge)
    return {
        "rows": [
            {
                "cell_line": r["cell_line"],
                "treatment": r["treatment"],
                "outer": f"{format_number(r['outer_mean'])} ({r['outer_wells']})",
                "inner": f"{format_number(r['inner_mean'])} (n = {r['n_inner']})",
                "difference": format_number(r["difference"]),
            }
            for r in both.to_dict("records")
        ],
        "n": res["n_conditions"],
        "mean": format_number(res["mean_difference"]),
        "p": format_p(res["p"]) if res["p"] == res["p"] else None,
        "flagged": res["flagged"],
    }
