"""Writing ``report.html``: the sections into the page template; ``incugrowth report``."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from incugrowth import __version__
from incugrowth._io import atomic_path
from incugrowth.errors import IncugrowthError
from incugrowth.report.conditions import _colors, _Conditions, _control_of, _measure_word, _orders
from incugrowth.report.dead_cells import _dead_section
from incugrowth.report.doses import _dose_response_section
from incugrowth.report.endpoint import (
    _anova_kind,
    _anova_rows,
    _dunnett_rows,
    _endpoint_section,
    _generic_rows,
    _n_cell_lines,
    _scale_advice,
    _sensitivity,
)
from incugrowth.report.experiment import _baseline_words, _experiment, _growth_panels, _n_wells
from incugrowth.report.gallery import _gallery
from incugrowth.report.inline import _Figures
from incugrowth.report.methods import methods_text
from incugrowth.report.metrics import _growth_metrics, _growth_rate_rows, _rate_window
from incugrowth.report.plate_maps import _plate_maps
from incugrowth.report.reading import read_outputs
from incugrowth.report.sizes import _sizes_section
from incugrowth.report.summary import _findings, _outputs, _warnings
from incugrowth.report.time_course import _time_course


def _template(name: str = "report.html.j2"):
    """The report template `name` from the package's templates folder."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name)


def write_report(
    outdir: str | os.PathLike,
    *,
    figures: bool = True,
    gallery: bool = True,
    max_thumbnails: int = 12,
) -> Path:
    """Rebuild ``OUTDIR/report.html`` from the tables and ``run.json`` in ``OUTDIR``.

    Parameters
    ----------
    outdir : path
        A folder written by :func:`incugrowth.pipeline.run`. ``growth.csv`` and
        ``curves.csv`` are needed; any of ``endpoint``, ``growth_rates``, ``dip``, ``gr``,
        ``dose_response``, ``anova``, ``dunnett``, ``dunnett_log2`` and ``assumptions`` may be
        missing, and the report says so.
    figures : bool
        Also save the report's figures as PNG, SVG and PDF in ``OUTDIR/figures``.
    gallery : bool
        Show frames with the detected nuclei outlined (runs that counted frames only).
    max_thumbnails : int
        Most frame pictures in the gallery (three time points per well).

    Returns
    -------
    Path
        The report written.
    """
    from markupsafe import Markup

    outdir = Path(outdir)
    tables, run = read_outputs(outdir)
    for needed in ("growth", "curves"):
        if tables[needed] is None:
            raise IncugrowthError(
                f"{outdir / (needed + '.csv')}: not found; the report is built from the tables "
                "of a finished run (incugrowth run ... -o OUTDIR)"
            )
    control = _control_of(run)
    figs = _Figures(outdir / "figures", figures)
    colors = _colors(tables)
    conds = _Conditions(tables["growth"], _orders(tables, control)[1])
    experiment = _experiment(tables, run, figs, control, colors)
    word = _measure_word(run)
    params = run.get("parameters") or {}
    scale = params.get("scale") or "pct"
    endpoint = _endpoint_section(tables, figs, control, conds, colors, word, scale)
    kind = _anova_kind(tables["anova"], _n_cell_lines(tables))
    context = {
        "title": f"Growth report: {experiment['facts']['plate']}",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "version": run.get("incugrowth", __version__),
        "control": control,
        "experiment": experiment,
        "panels": _growth_panels(tables, figs, control, word, params),
        "measure": word,
        "quantity": "confluence" if word == "confluence" else "count",
        "quantities": "confluence values" if word == "confluence" else "counts",
        "growth_n": _n_wells(tables["curves"]),
        **_baseline_words(tables["growth"], run),
        "endpoint": endpoint,
        "findings": _findings(tables, control),
        "dead": _dead_section(tables, run, figs, control),
        "anova": _anova_rows(tables["anova"]),
        "anova_kind": kind,
        "dunnett": _dunnett_rows(tables["dunnett"]),
        "dunnett_level": (
            "Cell line"
            if tables["dunnett"] is None or "cell_line" in tables["dunnett"].columns
            else "Time (h)"
        ),
        "assumptions": _generic_rows(tables["assumptions"]),
        "sensitivity": _sensitivity(tables, scale=scale),
        "scale_advice": _scale_advice(tables["assumptions"], scale),
        "time_course": _time_course(tables, control),
        "metrics": _growth_metrics(tables, run, figs, control, conds, colors),
        "doses": _dose_response_section(tables, run, figs, control, colors),
        "rates": _growth_rate_rows(tables, control, conds),
        "rate_window": _rate_window(run),
        "plates": _plate_maps(tables, figs, word),
        "gallery": (
            _gallery(tables, run, figs, control, max_thumbnails)
            if gallery
            else {"note": "The frame gallery was not requested."}
        ),
        "sizes": _sizes_section(tables),
        "warnings": _warnings(tables, run),
        "methods": methods_text(tables, run),
        "outputs": _outputs(outdir, anova_kind=kind),
        "timings": run.get("timings_s") or {},
        "environment": run.get("environment") or {},
        "Markup": Markup,
    }
    html = _template().render(**context)
    path = outdir / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


def report_command(outdir: str | os.PathLike) -> Path:
    """What ``incugrowth report OUTDIR`` does: the Prism tables (``OUTDIR/prism``), then the report.

    Raises :class:`~incugrowth.errors.IncugrowthError` when ``outdir`` is not the output of a
    run.
    """
    outdir = Path(outdir)
    if not outdir.is_dir():
        raise IncugrowthError(f"{outdir}: no such folder; give the output folder of a run")
    if (outdir / "plate_means.csv").exists():  # the folder of `incugrowth combine`
        from incugrowth.report.combined import write_combined_report

        return write_combined_report(outdir)
    if not (outdir / "growth.csv").exists():
        raise IncugrowthError(
            f"{outdir}: no growth.csv here; give the -o folder of a finished 'incugrowth run'"
        )
    from incugrowth.prism import write_prism_tables

    tables, run = read_outputs(outdir)
    write_prism_tables(
        outdir / "prism", tables["growth"], tables["endpoint"], control=_control_of(run)
    )
    return write_report(outdir)
