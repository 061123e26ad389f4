"""The analysis of one plate as `incugrowth run` does it: inputs to tables, figures, run.json.

This module only composes the stage modules; each step is also callable on its own.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import time
import warnings
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from incugrowth import __version__, kinetics
from incugrowth._io import sha256, write_csv, write_json
from incugrowth.errors import IncugrowthError, IncugrowthWarning
from incugrowth.tables import TABLES, measure_word

__all__ = ["RunResult", "TABLES", "run", "run_many", "watch"]


@dataclasses.dataclass
class RunResult:
    """Everything one run produced: the tables, where they were written, and what happened."""

    outdir: Path
    tables: dict[str, pd.DataFrame]
    figures: list[Path]
    warnings: list[str]
    messages: list[str]
    parameters: dict
    timings: dict[str, float]
    extra_outputs: list[Path] = dataclasses.field(default_factory=list)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


class _Timer:
    def __init__(self):
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - t0, 3)


def _export_list(exports) -> list | None:
    """``exports`` as a list of paths: one path (a string or Path) is a list of one, not a
    sequence of characters."""
    if exports is None:
        return None
    if isinstance(exports, str | os.PathLike):
        return [exports]
    return list(exports)


def _check_inputs(paths, what: str) -> list[Path]:
    out = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise IncugrowthError(f"{p}: {what} not found; check the path")
        out.append(p)
    return out


def _warn_unused_options(exports, **options) -> None:
    """Warn about options given that the input does not use: frame counting options
    (``channel``, ``diameter``) with metric exports, ``metric`` with frames."""
    unused = ("channel", "diameter") if exports is not None else ("metric",)
    given = [name for name in unused if options.get(name) is not None]
    if not given:
        return
    flags = ", ".join(f"--{name}" for name in given)
    if exports is not None:
        why = "they set how frames are counted, and a metric export holds counts already"
    else:
        why = "it chooses among the metrics of an export, and frames are counted instead"
    warnings.warn(f"{flags} ignored: {why}", IncugrowthWarning, stacklevel=3)


def _input_record(path: Path) -> dict:
    if path.is_dir():
        files = [f for f in path.rglob("*") if f.is_file()]
        return {
            "path": str(path),
            "kind": "folder",
            "files": len(files),
            "size": sum(f.stat().st_size for f in files),
        }
    return {"path": str(path), "size": path.stat().st_size, "sha256": sha256(path)}


def run(
    *,
    plate_map: str | os.PathLike,
    outdir: str | os.PathLike,
    exports=None,
    frames: str | os.PathLike | None = None,
    control: str = "untreated",
    controls: dict[str, str] | None = None,
    endpoint_h: float = 72.0,
    endpoint_tolerance_h: float = 6.0,
    baseline_h: float | None = None,
    combine: str = "mean",
    metric: str | None = None,
    channel: str | None = None,
    diameter: float | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    figures: bool = True,
    report: bool = True,
    normalize: bool = False,
    rate_window: tuple[float, float] | None = None,
    time_course: bool = False,
    progress: bool = False,
    partial: bool = False,
    dead_metric: str | None = None,
    dead_channel: str | None = None,
    scale: str = "pct",
    sharey: bool = False,
) -> RunResult:
    """Run the analysis of one plate and write its outputs into ``outdir``.

    Parameters
    ----------
    plate_map : path
        Plate map (long CSV, grid CSV or IncuCyte ``.PlateMap``).
    outdir : path
        Output folder, created if needed. Tables are written atomically; a rerun reuses the
        frame counts already made.
    exports : path or list of paths, optional
        IncuCyte metric export(s) of the plate (e.g. count and confluence).
    frames : path, optional
        An IncuCyte image export folder, counted frame by frame instead of ``exports``.
    control : str
        Treatment the others are compared with (per cell line).
    controls : dict, optional
        Per-treatment controls overriding ``control`` (e.g. ``{"2'3'-cGAMP": "Lipofectamine"}``);
        the plate map's ``control`` column supplies them too.
    endpoint_h, endpoint_tolerance_h : float
        The endpoint: the imaged time nearest ``endpoint_h`` within the tolerance.
    baseline_h : float, optional
        Baseline time for percent change (default: each well's first time point).
    combine : {"mean", "sum"}
        How fields of a well are combined.
    metric : str, optional
        Which count metric of the exports to use when there are several.
    channel, diameter, jobs, scheduler
        Frame counting options (``frames`` input only).
    normalize : bool
        Also express each well's count as percent of its control's mean at the same time
        (``pct_of_control`` in growth.csv, curves in curves_vs_control.csv).
    rate_window : (start_h, end_h), optional
        Time window of the log-linear growth-rate fit (default: the whole course).
    time_course : bool
        Also the growth-curve layout Prism users know: within each cell line, time x treatment,
        Dunnett's comparisons at every time point (``dunnett_by_time.csv``), and the
        repeated-measures two-way ANOVA that matches wells over time (``rm_anova.csv``).
    partial : bool
        An acquisition still running: when the endpoint is not imaged yet, write the curves
        and leave the endpoint statistics out (with a message) instead of failing.
    dead_metric, dead_channel : str, optional
        A dead-cell count beside the nuclear count: the metric of the exports (in the same
        file as the nuclear count or another) or the channel of the frames (counted like the
        nuclear channel). Adds the dead fraction (``dead.csv``, ``dead_curves.csv``), its
        endpoint statistics (``anova_dead.csv``, ``dunnett_dead.csv``) and the verdict per
        cell line and treatment (``effects.csv``, see :mod:`incugrowth.dead`).
    scale : {"pct", "log2"}
        The response of the endpoint ANOVA and Dunnett's comparisons (``anova.csv``,
        ``dunnett.csv``): percent change (the reference study's) or log2 fold change; the
        other scale's comparisons are written beside (``dunnett_log2.csv`` or
        ``dunnett_pct.csv``).
    sharey : bool
        One y axis for every cell line's panel of the growth-curve figures.
    """
    exports = _export_list(exports)
    from incugrowth.stats.endpoint import check_scale

    check_scale(scale)
    if (exports is None) == (frames is None):
        raise IncugrowthError("give either exports or a frames folder (exactly one of them)")
    if rate_window:
        kinetics.check_rate_window(*rate_window)  # before any frame is counted
    if dead_metric is not None or dead_channel is not None:
        from incugrowth.dead import check_dead_input

        check_dead_input(dead_metric, dead_channel, exports, frames)
    outdir = Path(outdir)
    params = {
        # Absolute paths, so that run.json (and an experiment file made from it) still
        # names the same files from any working directory.
        "exports": [str(Path(p).absolute()) for p in exports] if exports is not None else None,
        "frames": str(Path(frames).absolute()) if frames is not None else None,
        "plate_map": str(Path(plate_map).absolute()),
        "outdir": str(outdir.absolute()),
        "control": control,
        "controls": controls or {},
        "endpoint_h": endpoint_h,
        "endpoint_tolerance_h": endpoint_tolerance_h,
        "baseline_h": baseline_h,
        "combine": combine,
        "metric": metric,
        "channel": channel,
        "diameter": diameter,
        "jobs": jobs,
        "normalize": normalize,
        "rate_window": list(rate_window) if rate_window else None,
        "time_course": time_course,
        "scale": scale,
        "sharey": sharey,
        "scheduler": scheduler if scheduler is None or isinstance(scheduler, str) else "client",
    }
    # only when given, so that run.json of a run without a dead-cell input is as before
    if dead_metric is not None or dead_channel is not None:
        from incugrowth.dead import VERDICT_RULE

        given = {"dead_metric": dead_metric, "dead_channel": dead_channel}
        params |= {k: v for k, v in given.items() if v is not None}
        params["dead_verdict"] = dict(VERDICT_RULE)
    timer = _Timer()
    messages: list[str] = []
    tables: dict[str, pd.DataFrame] = {}
    figure_paths: list[Path] = []
    started = datetime.now(UTC)
    stage = None  # the staging folder, once the outputs are being written
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            inputs = _check_inputs([plate_map], "plate map")
            _warn_unused_options(exports, channel=channel, diameter=diameter, metric=metric)
            from incugrowth.platemap import read_plate_map

            with timer.step("plate_map"):
                plate = read_plate_map(plate_map)
            _check_controls(plate, plate_map, control, controls or {})  # before any counting
            from incugrowth.platemap_checks import check_names

            check_names(plate, control=control, path=plate_map)
            with timer.step("counts"):
                if exports is not None:
                    inputs += _check_inputs(exports, "export")
                else:
                    inputs += _check_inputs([frames], "frames folder")
                # made once the inputs are known to exist, so that a run stopped by a
                # missing input leaves no empty output folder behind
                outdir.mkdir(parents=True, exist_ok=True)
                counts, dead_counts = _counts(
                    exports,
                    frames,
                    metric=metric,
                    dead_metric=dead_metric,
                    dead_channel=dead_channel,
                    channel=channel,
                    diameter=diameter,
                    jobs=jobs,
                    scheduler=scheduler,
                    cache_dir=outdir / ".cache",
                    progress=progress,
                )
            tables["counts"] = counts
            from incugrowth.batch import size_table

            sizes = size_table(counts) if frames is not None else None
            if sizes is not None:
                tables["sizes"] = sizes
                params["nucleus_size_px"] = _size_summary(sizes)
            params["measure"] = _measure_of(counts)
            with timer.step("kinetics"):
                growth = kinetics.growth_table(counts, plate, how=combine, baseline_h=baseline_h)
                tables["growth"] = growth
                tables["curves"] = kinetics.condition_curves(growth)
                if normalize:
                    growth = kinetics.normalize_to_control(growth, control=control)
                    tables["growth"] = growth
                    tables["curves_vs_control"] = kinetics.condition_curves(
                        growth, value="pct_of_control"
                    )
                start_h, end_h = rate_window if rate_window else (None, None)
                tables["growth_rates"] = kinetics.growth_rates(growth, start_h=start_h, end_h=end_h)
                try:
                    end = kinetics.endpoint(growth, endpoint_h, tolerance_h=endpoint_tolerance_h)
                    _check_endpoint_after_baseline(end)
                except IncugrowthError as exc:
                    if not partial:
                        raise
                    end = None
                    messages.append(f"endpoint not reached yet: {exc}")
            vehicles = {**_plate_controls(plate), **(controls or {})}
            with timer.step("growth_metrics"):
                tables.update(
                    _growth_metrics(
                        growth, end, control, vehicles, endpoint_h, endpoint_tolerance_h
                    )
                )
            if end is not None:
                tables["endpoint"] = end
                with timer.step("stats"):
                    tables.update(_statistics(end, control, vehicles, messages, scale))
                tables["edge_effects"] = _edge_effects(end)
            if dead_counts is not None:
                with timer.step("dead"):
                    tables.update(
                        _dead_outputs(
                            growth, dead_counts, end, tables, combine, control, vehicles, messages
                        )
                    )
            if time_course:
                with timer.step("time_course"):
                    tables.update(_time_course(growth, control, vehicles, messages))
            # Everything is computed. The outputs are written into a staging folder and moved
            # into place at the end (see _publish), so that a run stopped while writing them
            # leaves the earlier run's outputs as they were.
            stage = _staging_folder(outdir)
            for name in TABLES:
                if name in tables:
                    write_csv(tables[name], stage / f"{name}.csv")
            from incugrowth.prism import write_prism_tables

            prism_paths = write_prism_tables(
                stage / "prism", tables["growth"], tables.get("endpoint"), control=control
            )
            if figures:
                with timer.step("figures"):
                    figure_paths = _figures(tables, stage / "figures", control, params)
        # a warning raised by two steps (the DIP fit is made for two tables) is reported once
        warning_texts = list(dict.fromkeys(_warning_text(w) for w in caught))
        result = RunResult(
            outdir=stage,
            tables=tables,
            figures=figure_paths,
            warnings=warning_texts,
            messages=messages,
            parameters=params,
            timings=timer.timings,
            extra_outputs=prism_paths,
        )
        # run.json says "finished" only once everything is written; the report reads this
        # first version, which has finished = null
        _write_run_json(result, inputs, started, finished=False)
        if report:
            with timer.step("report"):
                from incugrowth.report import write_report

                write_report(stage)
        moved = _publish(stage, outdir)
        result.outdir = outdir
        result.figures = [moved.get(p, p) for p in result.figures]
        result.extra_outputs = [moved.get(p, p) for p in result.extra_outputs]
        _write_run_json(result, inputs, started, finished=True)
        return result
    except BaseException:
        # a run stopped before its outputs were moved into place leaves none of them
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        raise


#: Start of the name of the hidden folder, one per run, in which a run writes its outputs
#: before they are moved into place.
STAGING = ".incugrowth-new"

#: A staging folder older than this (seconds) was left by a run that was killed: writing
#: the outputs takes seconds, so no running run still uses it.
STALE_STAGING_S = 3600.0


def _staging_folder(outdir: Path) -> Path:
    """A new, empty staging folder in `outdir`, of this run alone (a run into the same
    folder at the same time, such as ``watch`` beside a ``run``, has its own). Staging
    folders that killed runs left behind are removed."""
    import tempfile

    now = time.time()
    for old in outdir.glob(f"{STAGING}-*"):
        try:
            stale = old.is_dir() and now - old.stat().st_mtime > STALE_STAGING_S
        except OSError:  # removed meanwhile
            continue
        if stale:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{STAGING}-", dir=outdir))


def _publish(stage: Path, outdir: Path) -> dict[Path, Path]:
    """Move the outputs written in `stage` into `outdir`, replacing an earlier run's, and
    remove the earlier run's outputs that this run did not make again (a report, a figure of
    a cell line no longer on the plate, a Prism table, a table this run could not make) and
    temporary files an interrupted run left, so that none is taken for this run's result.

    ``run.json`` (whose ``finished`` is still null) moves first, so that a folder caught
    half-way says it is unfinished; each move is a rename within one file system. Returns
    the new path of each file moved.
    """
    staged = sorted(p for p in stage.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))
    staged.sort(key=lambda p: p.name != "run.json")
    moved = {}
    for path in staged:
        target = outdir / path.relative_to(stage)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        moved[path] = target
    new = set(moved.values())
    earlier = _previous_outputs(outdir) + [outdir / f"{name}.csv" for name in TABLES]
    for path in earlier:
        if path not in new:
            path.unlink(missing_ok=True)
    shutil.rmtree(stage, ignore_errors=True)
    return moved


#: Figures written into ``figures/`` by a run and its report (each as PNG, SVG and PDF):
#: these names, ``growth_<cell line>``, ``dose_response_<title>`` and ``dead_fraction`` (and
#: ``dead_fraction_<cell line>``).
_FIGURE_STEMS = (
    "growth_curves",
    "plate_map",
    "endpoint",
    "gr_heatmap",
    "dip_rates",
    "plate_counts",
    "plate_qc",
    "plate_relative",
    "frame_gallery",
)


def _is_figure(path: Path) -> bool:
    return path.suffix in (".png", ".svg", ".pdf") and (
        path.stem in _FIGURE_STEMS
        or path.stem.startswith(("growth_", "dose_response_", "dead_fraction"))
    )


def _previous_outputs(outdir: Path) -> list[Path]:
    """The files an earlier run (or its report) wrote into `outdir`, other than the
    tables, and temporary files an interrupted run left behind."""
    found = [outdir / "report.html"]
    found += [p for p in (outdir / "figures").glob("*") if _is_figure(p)]
    found += list((outdir / "prism").glob("prism_*.csv"))
    for folder in (outdir, outdir / "figures", outdir / "prism"):
        found += folder.glob(".*.tmp")  # see incugrowth._io.atomic_path
    return [p for p in found if p.is_file()]


def _check_controls(plate: pd.DataFrame, plate_map, control: str, controls: dict) -> None:
    """Every control named (`control`, both sides of `controls` and the plate map's
    ``control`` column) must be a treatment of the plate map: a misspelt name would
    otherwise drop or change comparisons without a word."""
    treatments = list(dict.fromkeys(plate["treatment"].dropna().astype(str)))
    listed = ", ".join(repr(t) for t in treatments)
    where = Path(plate_map).name

    def check(name, what):
        if str(name) not in treatments:
            raise IncugrowthError(
                f"{what} {name!r} is not a treatment in {where} (names are case-sensitive); "
                f"its treatments: {listed}"
            )

    check(control, "control")
    for treatment, vehicle in controls.items():
        check(treatment, "treatment-control: treatment")
        check(vehicle, "treatment-control: control")
    for treatment, vehicle in _plate_controls(plate).items():
        check(vehicle, f"{where}: control column: the control of {treatment!r},")


def _check_endpoint_after_baseline(end: pd.DataFrame) -> None:
    """The endpoint must come after the baseline: at the baseline every percent change is 0
    by definition, and there is nothing to test."""
    if "baseline_h" not in end.columns or not len(end):
        return
    after = end["elapsed_h"] > end["baseline_h"]
    if not after.any():
        at = float(end["endpoint_h"].iloc[0])
        raise IncugrowthError(
            f"the endpoint ({at:g} h) is the baseline scan, where every well's percent change "
            "is 0 by definition: choose a later endpoint (--endpoint) or an earlier baseline "
            "(--baseline)"
        )


def _growth_metrics(growth, end, control, vehicles, endpoint_h, tolerance_h) -> dict:
    """DIP rates and GR values, and dose-response fits where a treatment has a dose series."""
    from incugrowth import dip, doseresponse

    out = {
        "dip": dip.dip_rates(growth, control={control, *vehicles.values()}),
        "gr": dip.gr_values(growth, control=control, controls=vehicles),
    }
    if end is not None:
        fits = [
            doseresponse.dose_response_table(
                growth,
                response=response,
                at_h=endpoint_h,
                tolerance_h=tolerance_h,
                control=control,
                controls=vehicles,
            )
            for response in ("gr", "relative_count", "dip_rate")
        ]
        fits = [f for f in fits if len(f)]
        if fits:
            out["dose_response"] = pd.concat(fits, ignore_index=True)
    return out


def _size_summary(sizes: pd.DataFrame) -> dict:
    """The nucleus sizes for run.json: the plate's, and each well's size and source."""
    plate = sizes.attrs.get("plate_px")
    return {
        "plate": None if plate is None or not np.isfinite(plate) else float(plate),
        "wells": {
            str(r.well): {
                "diameter_px": None if not np.isfinite(r.diameter_px) else float(r.diameter_px),
                "source": str(r.source),
                "uncertain": bool(r.uncertain),
            }
            for r in sizes.itertuples()
        },
    }


def _measure_of(counts: pd.DataFrame) -> str:
    """What the ``count`` column measures: ``"confluence"`` (phase-contrast frames only, or
    an export's confluence metric chosen with ``metric=``) or ``"count"`` (cells)."""
    if "measure" in counts.attrs:
        return counts.attrs["measure"]
    metrics = counts["metric"].dropna().astype(str) if "metric" in counts.columns else []
    if len(metrics) and metrics.str.lower().str.contains("confluence").all():
        return "confluence"
    return "count"


def _counts(exports, frames, *, metric, dead_metric, dead_channel, cache_dir, **counting):
    """The counts table, from metric exports or by counting the frames of an image export,
    and the dead-cell counts table when a dead-cell input is given (else None)."""
    if exports is not None:
        from incugrowth.exports import export_to_counts, read_exports

        export = read_exports(exports)
        if dead_metric is not None:
            from incugrowth.dead import split_dead_export

            return split_dead_export(export, dead_metric, metric=metric)
        return export_to_counts(export, metric=metric), None
    if dead_channel is not None:
        from incugrowth.dead import count_dead_frames

        return count_dead_frames(frames, dead_channel, cache_dir=cache_dir, **counting)
    from incugrowth.batch import count_folder

    return count_folder(frames, cache_dir=cache_dir, **counting), None


def _dead_outputs(growth, dead_counts, end, tables, combine, control, vehicles, messages):
    """The dead fraction's tables, its endpoint statistics (doses apart, as for growth) and
    the verdicts (see incugrowth.dead)."""
    from incugrowth import dead

    out = {"dead": dead.dead_table(growth, dead_counts, how=combine)}
    out["dead_curves"] = dead.dead_curves(out["dead"])
    if end is None:
        return out
    at_end, merged = _dose_conditions(dead.dead_endpoint(out["dead"], end), vehicles or None)
    stats, notes = dead.dead_statistics(at_end, control=control, controls=merged)
    out.update(stats)
    messages.extend(notes)
    gr = tables.get("gr")
    if gr is not None and len(gr):
        hours = set(end["elapsed_h"].astype(float).round(3))
        gr, _ = _dose_conditions(gr[gr["elapsed_h"].round(3).isin(hours)], vehicles or None)
    out["effects"] = dead.effects_table(
        tables.get("dunnett"), stats.get("dunnett_dead"), gr=gr, doses=at_end
    )
    return out


def _statistics(end, control, vehicles, messages, scale="pct") -> dict[str, pd.DataFrame]:
    """Endpoint ANOVA and Dunnett on the chosen scale, the other scale's Dunnett beside it.

    Percent change of growing cultures has a variance that rises with the mean, which the
    assumption checks often flag; the log2 fold change (log2 of count / baseline count) is
    the usual remedy. The primary scale (``scale``) gives ``anova.csv`` and ``dunnett.csv``;
    the other scale's comparisons are ``dunnett_log2.csv`` (or ``dunnett_pct.csv``), which
    the report sets against the main result. What weakens the analysis (an ANOVA not
    computed, a cell line skipped, assumption checks that fail) is a warning.
    """
    from incugrowth.stats import endpoint_statistics_on_scale

    end, merged = _dose_conditions(end, vehicles or None)
    try:
        res = endpoint_statistics_on_scale(end, scale=scale, control=control, controls=merged)
    except IncugrowthError as exc:
        _downgrade(f"statistics not computed: {exc}")
        return {}
    for text in res["messages"]:
        if text.startswith("one cell_line only"):  # the right analysis of one cell line
            messages.append(text)
        else:
            _downgrade(f"statistics: {text}")
    if res["advice"]:
        _downgrade(res["advice"])
    out = {"anova": res["anova"], "dunnett": res["dunnett"], "assumptions": res["checks"]}
    if res["other"] is not None:
        out["dunnett_log2" if scale == "pct" else "dunnett_pct"] = res["other"]
    return out


def _edge_effects(end: pd.DataFrame) -> pd.DataFrame:
    """Outer against inner wells of each condition, warned about when they differ (see
    incugrowth.qc_plate)."""
    from incugrowth.qc_plate import edge_effects, warn_edge_effect

    try:
        table = edge_effects(end)
    except (IncugrowthError, KeyError) as exc:  # wells off a standard plate: no check
        _downgrade(f"edge-effect check not made: {exc}")
        return pd.DataFrame()
    warn_edge_effect(table)
    return table


def _downgrade(text: str) -> None:
    """A step that gave less than asked (a test not computed, an assumption that fails): a
    warning, counted and listed with the others."""
    warnings.warn(text, IncugrowthWarning, stacklevel=3)


def _dose_conditions(end: pd.DataFrame, controls: dict | None):
    """Each dose of a dose series as its own condition (see kinetics.split_doses)."""
    end, controls = kinetics.split_doses(end, controls or {})
    return end, controls or None


def _time_course(growth, control, vehicles, messages) -> dict[str, pd.DataFrame]:
    """Per cell line: Dunnett at every time (time x treatment model) and the RM ANOVA."""
    from incugrowth.stats import dunnett, rm_two_way_anova

    by_time, rm = [], []
    data = growth[growth["elapsed_h"] > growth["baseline_h"]]  # percent change is 0 at baseline
    for line, sub in data.groupby("cell_line", sort=False):
        sub, merged = _dose_conditions(sub, vehicles or None)
        try:
            d = dunnett(sub, by="elapsed_h", control=control, controls=merged)
            by_time.append(d.assign(cell_line=line))
            rm.append(rm_two_way_anova(sub).assign(cell_line=line))
        except IncugrowthError as exc:
            _downgrade(f"time-course statistics for {line} not computed: {exc}")
    out = {}
    if by_time:
        out["dunnett_by_time"] = _cell_line_first(pd.concat(by_time, ignore_index=True))
    if rm:
        out["rm_anova"] = _cell_line_first(pd.concat(rm, ignore_index=True))
    return out


def _cell_line_first(df: pd.DataFrame) -> pd.DataFrame:
    return df[["cell_line", *[c for c in df.columns if c != "cell_line"]]]


def _plate_controls(plate: pd.DataFrame) -> dict[str, str]:
    if "control" not in plate.columns:
        return {}
    sub = plate.dropna(subset=["control"])
    sub = sub[sub["control"].astype(str).str.strip() != ""]
    return dict(zip(sub["treatment"], sub["control"]))


def _figures(tables, figdir: Path, control: str, params: dict) -> list[Path]:
    """The growth figures, drawn as the report draws them (the control first)."""
    from incugrowth import plots

    measure = params["measure"]
    shown = {"sharey": params.get("sharey", False), "scale": params.get("scale", "pct")}
    curves = tables["curves"]
    dunnett = tables.get("dunnett")
    paths: list[Path] = []
    end = tables.get("endpoint")
    at = float(end["endpoint_h"].iloc[0]) if end is not None and len(end) else None
    ylabel = f"Change in {measure_word(measure)} (%)"
    fig = plots.growth_curve_figure(
        curves, stars=dunnett, control=control, endpoint_h=at, ylabel=ylabel, **shown
    )
    paths += plots.save_figure(fig, figdir / "growth_curves")
    for line in dict.fromkeys(curves["cell_line"]):
        fig = plots.growth_curve_figure(
            curves, cell_lines=[line], stars=dunnett, control=control, endpoint_h=at,
            ylabel=ylabel, scale=shown["scale"],
        )  # fmt: skip
        paths += plots.save_figure(fig, figdir / f"growth_{plots.slug(line)}")
    if "dead_curves" in tables:
        from incugrowth.dead_figures import save_dead_figures

        paths += save_dead_figures(tables, figdir, control)
    return paths


def _warning_text(w: warnings.WarningMessage) -> str:
    return str(w.message)


def _write_run_json(
    result: RunResult, inputs: list[Path], started: datetime, *, finished: bool
) -> None:
    import numpy
    import scipy
    import statsmodels

    outdir = result.outdir
    written = [outdir / f"{n}.csv" for n in result.tables] + _previous_outputs(outdir)
    doc = {
        "incugrowth": __version__,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds") if finished else None,
        "parameters": result.parameters,
        "inputs": [_input_record(p) for p in inputs],
        "outputs": sorted(
            {str(p.relative_to(outdir)) for p in written if not p.name.endswith(".tmp")}
            | {"run.json"}
        ),
        "timings_s": result.timings,
        "warnings": result.warnings,
        "messages": result.messages,
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "numpy": numpy.__version__,
            "pandas": pd.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
            "scikit-image": _package_version("scikit-image"),
            "opencv": _package_version("opencv-python-headless", "opencv-python"),
            "numba": _package_version("numba"),
        },
    }
    write_json(doc, result.outdir / "run.json")


def _package_version(*names: str) -> str | None:
    """Installed version of the first of these distributions that is installed, or None."""
    from importlib.metadata import PackageNotFoundError, version

    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return None


def _inputs_signature(exports, frames) -> tuple:
    paths = [Path(p) for p in _export_list(exports) or []]
    if frames is not None:
        paths += [p for p in Path(frames).rglob("*") if p.suffix.lower() in (".tif", ".tiff")]
    sig = []
    for p in sorted(paths):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        sig.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(sig)


def watch(
    *,
    interval_s: float = 60.0,
    max_updates: int | None = None,
    idle_timeout_s: float | None = None,
    sleep=time.sleep,
    **run_kwargs,
):
    """Follow an acquisition: rerun the analysis whenever frames or exports change.

    Yields the :class:`RunResult` of each update. Frames already counted are not counted
    again, so each update costs only the new frames. Stops after ``max_updates`` updates or
    when nothing has changed for ``idle_timeout_s`` seconds (default: runs until interrupted).
    """
    run_kwargs.setdefault("partial", True)
    last = None
    updates = 0
    idle = 0.0
    while True:
        sig = _inputs_signature(run_kwargs.get("exports"), run_kwargs.get("frames"))
        if sig and sig != last:
            yield run(**run_kwargs)
            last, idle = sig, 0.0
            updates += 1
            if max_updates is not None and updates >= max_updates:
                return
        elif idle_timeout_s is not None and idle >= idle_timeout_s:
            return
        sleep(interval_s)
        idle += interval_s


def run_many(configs, *, scheduler=None, jobs: int | None = None, on_error=None) -> list:
    """Run several plates, each described by an experiment file, sharing one Dask client.

    A plate whose input is bad, or whose outputs cannot be written (an :class:`OSError`: no
    permission, disk full, ...), does not stop the others: ``on_error(config, error)`` is
    called (default: re-raise) and its entry in the returned list is the error.
    """
    from incugrowth.config import load_config

    client = None
    if isinstance(scheduler, str):
        from incugrowth.batch import connect

        client = connect(scheduler)
    results = []
    try:
        for cfg_path in configs:
            try:
                kwargs = load_config(cfg_path)
                if scheduler is not None:
                    kwargs["scheduler"] = client or scheduler
                if jobs is not None:
                    kwargs["jobs"] = jobs
                results.append(run(**kwargs))
            except (IncugrowthError, OSError) as exc:
                if on_error is None:
                    raise
                on_error(cfg_path, exc)
                results.append(exc)
    finally:
        if client is not None:
            client.close()
    return results
