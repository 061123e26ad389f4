"""Combine finished runs of repeated plates into one analysis, the plate as the replicate.

Each run folder (the outputs of ``incugrowth run``: its tables and ``run.json``) is one plate
of a repeated experiment. The wells of a plate are technical replicates; the plates are the
experiments. The default analysis:

1. the endpoint percent change of the wells of each plate x condition is averaged
   (``plate_means.csv``: mean, SD and number of wells);
2. a two-way ANOVA of those means with the plate as a block,
   ``pct_change ~ plate + cell_line * treatment``, Type III sums of squares with sum-to-zero
   contrasts (``anova.csv``);
3. within each cell line, each treatment against its control (``untreated``, or its own
   vehicle such as Lipofectamine for 2'3'-cGAMP) with that model's residual error and degrees
   of freedom, single-step multivariate t (Dunnett; ``dunnett.csv``).

As a sensitivity analysis, a linear mixed model of the wells (random intercept per plate and
per plate x condition, REML) gives the same comparisons (``dunnett_mixed.csv``; Wald z tests,
no exact small-sample df). ``curves.csv`` holds the mean of the plate means at each time with
SD and SEM across plates and ``n_plates``. When every run had a dead-cell input, the dead
fraction is analysed the same way and each treatment gets a verdict (cytotoxic, cytostatic,
no effect, unclear; :mod:`incugrowth.combine_dead`).

Example::

    import incugrowth
    result = incugrowth.combine_runs(["day1", "day2", "day3"], "combined")
    result["dunnett"]
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from incugrowth import __version__
from incugrowth._io import sha256, write_csv, write_json
from incugrowth.errors import IncugrowthError, IncugrowthWarning

__all__ = ["CombineResult", "TABLES", "combine_runs", "plate_means", "read_run"]

#: Tables written by `combine`, in order (each as ``<name>.csv``).
TABLES = (
    "plate_means",
    "endpoint",
    "curves",
    "plate_curves",
    "anova",
    "dunnett",
    "dunnett_mixed",
    "plate_agreement",
    "dunnett_by_plate",
    # with a dead-cell input in every run (see incugrowth.combine_dead)
    "dead",
    "dead_curves",
    "anova_dead",
    "dunnett_dead",
    "effects",
)

#: The models, in words, as run.json and the report state them.
BLOCK_MODEL = "pct_change ~ plate + cell_line * treatment (plate x condition means)"
MIXED_MODEL = (
    "pct_change ~ cell_line * treatment + (1 | plate) + (1 | plate:cell_line:treatment), "
    "REML, on the wells"
)


@dataclasses.dataclass
class CombineResult:
    """What a combine produced: the tables, the files written, and what happened."""

    outdir: Path
    tables: dict[str, pd.DataFrame]
    figures: list[Path]
    warnings: list[str]
    messages: list[str]
    parameters: dict

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


@dataclasses.dataclass
class Run:
    """One finished run folder: its parameters, endpoint and growth tables."""

    path: Path
    plate: str
    parameters: dict
    endpoint: pd.DataFrame
    growth: pd.DataFrame
    dunnett: pd.DataFrame | None
    run_json: Path

    @property
    def measure(self) -> str:
        return self.parameters.get("measure") or "count"

    @property
    def endpoint_h(self) -> float:
        return float(self.endpoint["endpoint_h"].iloc[0])


def _read_table(path: Path, run: Path, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise IncugrowthError(
            f"{run}: not a finished run: no {path.name} ({what}); rerun `incugrowth run` into it"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise IncugrowthError(f"{run}: {path.name} cannot be read ({exc})") from None


def read_run(path: str | os.PathLike, plate: str | None = None) -> Run:
    """Read a finished ``incugrowth run`` folder for combining.

    Raises
    ------
    IncugrowthError
        The folder is missing, has no ``run.json`` (or one that says the run did not finish),
        or lacks the endpoint or growth table; the message names the folder.
    """
    path = Path(path)
    if not path.is_dir():
        what = "is a file" if path.exists() else "does not exist"
        raise IncugrowthError(
            f"{path}: not a run folder ({what}); give the output folders (-o) of "
            f"`incugrowth run`, one per plate"
        )
    run_json = path / "run.json"
    try:
        doc = json.loads(run_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IncugrowthError(
            f"{path}: not a finished run (no run.json); give the output folder (-o) of "
            f"`incugrowth run`"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise IncugrowthError(f"{path}: run.json is not readable JSON ({exc})") from None
    if not isinstance(doc, dict) or "parameters" not in doc:
        raise IncugrowthError(f"{path}: run.json is not that of an incugrowth run")
    if not doc.get("finished"):
        raise IncugrowthError(
            f"{path}: the run did not finish (run.json has no finished time); rerun it"
        )
    endpoint = _read_table(path / "endpoint.csv", path, "the endpoint was not reached")
    growth = _read_table(path / "growth.csv", path, "the growth table")
    if endpoint.empty or "pct_change" not in endpoint.columns:
        raise IncugrowthError(f"{path}: endpoint.csv has no wells with a percent change")
    dunnett = None
    if (path / "dunnett.csv").exists():
        dunnett = _read_table(path / "dunnett.csv", path, "the plate's comparisons")
    for table in (endpoint, growth):
        for col in ("cell_line", "treatment"):
            table[col] = table[col].astype(str)
    return Run(
        path=path,
        plate=plate or path.name,
        parameters=doc["parameters"] or {},
        endpoint=endpoint,
        growth=growth,
        dunnett=dunnett,
        run_json=run_json,
    )


def _name_key(name: str) -> str:
    """A name with case, spaces, hyphens and underscores ignored: 'M407 JAK1-KO' ~ 'm407_jak1ko'."""
    return re.sub(r"[\s\-_]+", "", str(name).casefold())


def _check_names(runs: list[Run]) -> None:
    """Cell lines and treatments must be spelt the same in every run."""
    for column, what in (("cell_line", "cell line"), ("treatment", "treatment")):
        seen: dict[str, tuple[str, Run]] = {}
        for run in runs:
            for name in dict.fromkeys(run.endpoint[column]):
                key = _name_key(name)
                if key in seen and seen[key][0] != name:
                    first, where = seen[key]
                    raise IncugrowthError(
                        f"{run.path}: {what} {name!r} is spelt {first!r} in {where.path}; "
                        f"use one spelling in every plate map (names are compared as written) "
                        f"and rerun the plate"
                    )
                seen.setdefault(key, (name, run))


def _check_measures(runs: list[Run]) -> None:
    first = runs[0]
    for run in runs[1:]:
        if run.measure != first.measure:
            raise IncugrowthError(
                f"{run.path}: its growth measure is {run.measure}, that of {first.path} is "
                f"{first.measure}: runs to combine must measure growth the same way (rerun "
                f"with the same --metric)"
            )


def _check_endpoints(runs: list[Run]) -> float:
    """The endpoint hours used must agree within the runs' tolerance; returns their mean."""
    tolerance = max(float(r.parameters.get("endpoint_tolerance_h") or 6.0) for r in runs)
    first = runs[0]
    for run in runs[1:]:
        if abs(run.endpoint_h - first.endpoint_h) > tolerance:
            raise IncugrowthError(
                f"{run.path}: endpoint {run.endpoint_h:g} h, but {first.endpoint_h:g} h in "
                f"{first.path}: runs to combine must share the endpoint (within "
                f"{tolerance:g} h); rerun with the same --endpoint"
            )
    return float(np.mean([r.endpoint_h for r in runs]))


def _controls(runs: list[Run], control: str, controls: Mapping[str, str] | None) -> dict:
    """Each treatment's own control, from the call, the runs' parameters and plate maps."""
    merged: dict[str, tuple[str, Path | None]] = {}
    for run in runs:
        found = dict(run.parameters.get("controls") or {})
        if "control" in run.growth.columns:
            sub = run.growth.dropna(subset=["control"])
            sub = sub[sub["control"].astype(str).str.strip() != ""]
            found |= dict(zip(sub["treatment"].astype(str), sub["control"].astype(str)))
        for treatment, vehicle in found.items():
            if treatment in merged and merged[treatment][0] != vehicle:
                raise IncugrowthError(
                    f"{run.path}: the control of {treatment!r} is {vehicle!r}, but "
                    f"{merged[treatment][0]!r} in {merged[treatment][1]}; give it with "
                    f"--treatment-control"
                )
            merged.setdefault(treatment, (vehicle, run.path))
    out = {t: v for t, (v, _) in merged.items()}
    out |= dict(controls or {})
    treatments = set().union(*(set(r.endpoint["treatment"]) for r in runs))
    for name in [control, *out.values()]:
        if name not in treatments:
            raise IncugrowthError(
                f"control {name!r} is not a treatment of the runs; their treatments: "
                f"{', '.join(map(repr, sorted(treatments)))}"
            )
    return {t: v for t, v in out.items() if t != control}


def _missing_conditions(runs: list[Run]) -> list[str]:
    """A warning for each condition that only some plates have."""
    present = {r.plate: set(zip(r.endpoint["cell_line"], r.endpoint["treatment"])) for r in runs}
    every = list(dict.fromkeys(c for r in runs for c in zip(r.endpoint["cell_line"],
                                                             r.endpoint["treatment"])))  # fmt: skip
    out = []
    for cond in every:
        missing = [p for p, conds in present.items() if cond not in conds]
        if missing:
            out.append(
                f"{cond[0]} x {cond[1]} is on {len(runs) - len(missing)} of {len(runs)} plates "
                f"(not on {', '.join(missing)}): analysed on the plates that have it"
            )
    return out


def _plate_names(paths: list[Path]) -> list[str]:
    names = [p.name or str(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]


def plate_means(wells: pd.DataFrame, *, dv: str = "pct_change") -> pd.DataFrame:
    """The endpoint of each plate x condition: mean, SD and number of wells.

    Examples
    --------
    >>> w = pd.DataFrame({"plate": ["p1", "p1", "p2"], "cell_line": "A",
    ...                   "treatment": "untreated", "endpoint_h": 72.0,
    ...                   "pct_change": [200.0, 210.0, 190.0]})
    >>> plate_means(w)
      plate cell_line  treatment  endpoint_h   mean        sd  n_wells
    0    p1         A  untreated        72.0  205.0  7.071068        2
    1    p2         A  untreated        72.0  190.0       NaN        1
    """
    keys = ["plate", "cell_line", "treatment"]
    data = wells.dropna(subset=[dv])
    out = (
        data.groupby(keys, sort=False)
        .agg(
            endpoint_h=("endpoint_h", "first"),
            mean=(dv, "mean"),
            sd=(dv, "std"),
            n_wells=(dv, "size"),
        )
        .reset_index()
    )
    return out


def _align_times(curves: pd.DataFrame, reference: np.ndarray) -> pd.DataFrame:
    """Scan times of one plate moved onto the first plate's grid when within half a step
    (plates scanned minutes apart are the same time point)."""
    if len(reference) < 2:
        return curves
    step = float(np.min(np.diff(reference)))
    tolerance = min(0.5 * step, 1.0)
    t = curves["elapsed_h"].to_numpy(float)
    nearest = reference[np.abs(t[:, None] - reference[None, :]).argmin(axis=1)]
    moved = np.where(np.abs(nearest - t) <= tolerance, nearest, t)
    pairs = pd.DataFrame({"t": t, "moved": moved}).drop_duplicates()
    if pairs["moved"].duplicated().any():  # two scans onto one time point: keep them apart
        return curves
    return curves.assign(elapsed_h=moved)


def _curves(
    runs: list[Run], growth: pd.DataFrame, *, value: str = "pct_change"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-plate condition curves of ``value`` and their mean over plates (SD, SEM across
    plates)."""
    from incugrowth import kinetics

    reference = np.sort(runs[0].growth["elapsed_h"].dropna().unique())
    parts = []
    for run in runs:
        sub = growth[growth["plate"] == run.plate]
        curve = kinetics.condition_curves(sub.drop(columns=["plate"]), value=value)
        parts.append(_align_times(curve, reference).assign(plate=run.plate))
    per_plate = pd.concat(parts, ignore_index=True)
    keys = [c for c in ("cell_line", "treatment", "dose", "dose_unit") if c in per_plate.columns]
    per_plate = per_plate[["plate", *[c for c in per_plate.columns if c != "plate"]]]
    grouped = per_plate.groupby([*keys, "elapsed_h"], dropna=False, sort=False)["mean"]
    combined = grouped.agg(mean="mean", sd="std", n_plates="count").reset_index()
    order = {k: i for i, k in enumerate(dict.fromkeys(zip(*(per_plate[c] for c in keys[:2]))))}
    combined["_order"] = [order[k] for k in zip(*(combined[c] for c in keys[:2]))]
    combined = combined.sort_values(["_order", "elapsed_h"], kind="stable")
    combined["sem"] = combined["sd"] / np.sqrt(combined["n_plates"])
    combined.loc[combined["n_plates"] < 2, ["sd", "sem"]] = np.nan
    cols = [*keys, "elapsed_h", "mean", "sd", "sem", "n_plates"]
    return combined[cols].reset_index(drop=True), per_plate


def _by_plate_dunnett(runs: list[Run]) -> pd.DataFrame:
    parts = [r.dunnett.assign(plate=r.plate) for r in runs if r.dunnett is not None]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    return out[["plate", *[c for c in out.columns if c != "plate"]]]


def _dose_labels(table: pd.DataFrame, controls: dict) -> tuple[pd.DataFrame, dict]:
    """A treatment given at several doses becomes one condition per dose, as in a run."""
    from incugrowth.kinetics import split_doses

    return split_doses(table, controls)


def _statistics(means, wells, agreement_wells, control, controls, messages) -> dict:
    """The block ANOVA and Dunnett (the analysis), the mixed model and the plate agreement."""
    from incugrowth.stats.blocks import block_anova, block_dunnett, plate_agreement
    from incugrowth.stats.mixed import mixed_dunnett

    out = {}
    steps = (
        ("anova", lambda: block_anova(means, dv="mean")),
        ("dunnett", lambda: block_dunnett(means, dv="mean", control=control, controls=controls)),
        ("dunnett_mixed", lambda: mixed_dunnett(wells, control=control, controls=controls)),
        ("plate_agreement", lambda: plate_agreement(agreement_wells)),
    )
    for name, step in steps:
        try:
            out[name] = step()
        except IncugrowthError as exc:
            messages.append(f"{name} not computed: {exc}")
    if "dunnett_mixed" in out:
        attrs = out["dunnett_mixed"].attrs
        messages.extend(attrs.get("messages", []))
        parts = ", ".join(f"{k} {v:.4g}" for k, v in attrs["variances"].items())
        messages.append(
            f"mixed model (sensitivity, dunnett_mixed.csv): variances {parts}; Wald z tests, "
            "no exact small-sample degrees of freedom"
        )
    return out


def combine_runs(
    runs: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    *,
    control: str = "untreated",
    controls: Mapping[str, str] | None = None,
    figures: bool = True,
    report: bool = True,
) -> CombineResult:
    """Combine finished runs (one per plate or experiment) into one analysis.

    Checks first: every run finished; cell lines and treatments are spelt the same (names
    that differ only in case, spaces or hyphens are an error naming the run folder); the
    growth measure (cell count or confluence) is the same; the endpoints agree within the
    runs' tolerance. A condition on only some plates is analysed on those, with a warning.
    The analysis is described in :mod:`incugrowth.combine`.

    Parameters
    ----------
    runs : sequence of paths
        Output folders of ``incugrowth run``, one per plate (at least two).
    outdir : path
        Output folder (created).
    control : str
        The treatment the others are compared with, within each cell line.
    controls : mapping, optional
        A treatment's own control (``{"2'3'-cGAMP": "Lipofectamine"}``); the runs' own
        (their parameters and plate maps' ``control`` column) are used too.
    figures, report : bool
        Write the figures and ``report.html``.

    Returns
    -------
    CombineResult
        ``tables`` holds ``plate_means``, ``endpoint`` (the wells of every plate, with
        ``plate``), ``curves`` (with ``n_plates``), ``plate_curves``, ``anova``,
        ``dunnett``, ``dunnett_mixed``, ``plate_agreement`` and ``dunnett_by_plate``; when
        every run had a dead-cell input (its ``dead.csv``) also ``dead``, ``dead_curves``,
        ``anova_dead``, ``dunnett_dead`` and ``effects`` (:mod:`incugrowth.combine_dead`;
        when only some had, a warning and none of them).

    Raises
    ------
    IncugrowthError
        Fewer than two runs, a folder given twice, or a check above failing.
    """
    paths = [Path(p) for p in runs]
    if len(paths) < 2:
        raise IncugrowthError(
            f"combine needs at least two run folders (one per plate), got {len(paths)}"
        )
    resolved = [p.resolve() for p in paths]
    for i, p in enumerate(resolved):
        if p in resolved[:i]:
            raise IncugrowthError(f"{paths[i]}: run folder given twice")
    outdir = Path(outdir)
    if outdir.resolve() in resolved:
        raise IncugrowthError(f"{outdir}: the output folder is one of the runs; choose another")
    started = datetime.now(UTC)
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = [read_run(p, name) for p, name in zip(paths, _plate_names(paths))]
        _check_names(loaded)
        _check_measures(loaded)
        endpoint_h = _check_endpoints(loaded)
        vehicles = _controls(loaded, control, controls)
        for text in _missing_conditions(loaded):
            warnings.warn(text, IncugrowthWarning, stacklevel=2)
        wells = pd.concat([r.endpoint.assign(plate=r.plate) for r in loaded], ignore_index=True)
        growth = pd.concat([r.growth.assign(plate=r.plate) for r in loaded], ignore_index=True)
        wells, merged = _dose_labels(wells, vehicles)
        growth, _ = _dose_labels(growth, vehicles)
        tables: dict[str, pd.DataFrame] = {}
        tables["plate_means"] = plate_means(wells)
        tables["endpoint"] = wells[["plate", *[c for c in wells.columns if c != "plate"]]]
        tables["curves"], tables["plate_curves"] = _curves(loaded, growth)
        tables.update(
            _statistics(tables["plate_means"], wells, wells, control, merged or None, messages)
        )
        by_plate = _by_plate_dunnett(loaded)
        if len(by_plate):
            tables["dunnett_by_plate"] = by_plate
        has_dead = _dead_analysis(loaded, tables, control, vehicles, messages)
        outdir.mkdir(parents=True, exist_ok=True)
        _remove_previous_outputs(outdir)
        for name in TABLES:
            if name in tables:
                write_csv(tables[name], outdir / f"{name}.csv")
        from incugrowth.prism import write_prism_plate_tables

        prism_paths = write_prism_plate_tables(
            outdir / "prism", tables["plate_means"], tables["plate_curves"], control=control
        )
        figure_paths = []
        if figures:
            figure_paths = _figures(tables, outdir / "figures", control, loaded[0].measure)
    warning_texts = list(dict.fromkeys(str(w.message) for w in caught))
    parameters = {
        "runs": [str(p.absolute()) for p in paths],
        "plates": [r.plate for r in loaded],
        "control": control,
        "controls": merged,
        "endpoint_h": endpoint_h,
        "measure": loaded[0].measure,
        "model": BLOCK_MODEL,
        "sensitivity_model": MIXED_MODEL,
    }
    if has_dead:
        from incugrowth.combine_dead import DEAD_MODEL
        from incugrowth.dead import VERDICT_RULE

        parameters["dead_model"] = DEAD_MODEL
        parameters["dead_verdict"] = dict(VERDICT_RULE)
    result = CombineResult(
        outdir=outdir,
        tables=tables,
        figures=figure_paths,
        warnings=warning_texts,
        messages=messages,
        parameters=parameters,
    )
    _write_run_json(result, loaded, started, prism_paths, finished=False)
    if report:
        _write_report(outdir)
    _write_run_json(result, loaded, started, prism_paths, finished=True)
    return result


def _dead_analysis(loaded, tables, control, vehicles, messages) -> bool:
    """The dead-fraction tables when every run had a dead-cell input (a warning when only
    some had); whether they were made."""
    from incugrowth.combine_dead import combined_dead, missing_dead_warning, read_dead

    dead = [read_dead(r.path) for r in loaded]
    text = missing_dead_warning([r.plate for r in loaded], dead)
    if text:
        warnings.warn(text, IncugrowthWarning, stacklevel=3)
    if any(d is None for d in dead):
        return False
    tables.update(
        combined_dead(
            loaded,
            dead,
            tables.get("dunnett"),
            control=control,
            vehicles=vehicles,
            messages=messages,
        )
    )
    return True


def _remove_previous_outputs(outdir: Path) -> None:
    """An earlier combine's outputs, so that none (a cell line no longer combined, a table
    not computed this time) is taken for this one's."""
    found = [outdir / f"{name}.csv" for name in TABLES] + [outdir / "report.html"]
    found += list((outdir / "prism").glob("prism_*.csv"))
    found += [
        p
        for p in (outdir / "figures").glob("*")
        if p.suffix in (".png", ".svg", ".pdf")
        and p.stem.startswith(("growth_", "plate_means", "forest"))
    ]
    for path in found:
        path.unlink(missing_ok=True)


def _figures(tables, figdir: Path, control: str, measure: str) -> list[Path]:
    """Growth curves of the plate means (error bars across plates), stars of the combined
    Dunnett."""
    from incugrowth import plots

    curves = tables["curves"]
    end = tables["plate_means"]
    at = float(end["endpoint_h"].mean()) if len(end) else None
    word = "confluence" if measure == "confluence" else "cell count"
    kwargs = {
        "stars": tables.get("dunnett"),
        "control": control,
        "endpoint_h": at,
        "ylabel": f"Change in {word} (%)",
        "replicates": "plates",
    }
    paths = plots.save_figure(plots.growth_curve_figure(curves, **kwargs), figdir / "growth_curves")
    for line in dict.fromkeys(curves["cell_line"]):
        fig = plots.growth_curve_figure(curves, cell_lines=[line], **kwargs)
        paths += plots.save_figure(fig, figdir / f"growth_{plots.slug(line)}")
    return paths


def _write_report(outdir: Path) -> None:
    from incugrowth.report.combined import write_combined_report

    write_combined_report(outdir)


def _results_summary(tables: dict) -> dict:
    """Numbers of the models that the tables do not hold: error terms, variance components."""
    out: dict = {}
    if "dunnett" in tables:
        attrs = tables["dunnett"].attrs
        out["block_model"] = {
            "ms_resid": float(attrs["ms_resid"]),
            "df_resid": int(attrs["df_resid"]),
        }
    if "dunnett_dead" in tables:
        from incugrowth.combine_dead import dead_results

        out["dead_model"] = dead_results(tables)
    if "dunnett_mixed" in tables:
        attrs = tables["dunnett_mixed"].attrs
        out["mixed_model"] = {"variances": attrs.get("variances"), "df": attrs.get("df")}
    return out


def _write_run_json(result, runs, started, prism_paths, *, finished: bool) -> None:
    import scipy
    import statsmodels

    outdir = result.outdir
    written = [outdir / f"{n}.csv" for n in result.tables] + list(result.figures)
    written += [p for p in (outdir / "figures").glob("*") if not p.name.endswith(".tmp")]
    written += list(prism_paths)
    if (outdir / "report.html").exists():
        written.append(outdir / "report.html")
    doc = {
        "incugrowth": __version__,
        "command": "combine",
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds") if finished else None,
        "parameters": result.parameters,
        "inputs": [
            {
                "path": str(r.path.absolute()),
                "plate": r.plate,
                "run_json_sha256": sha256(r.run_json),
                "endpoint_h": r.endpoint_h,
                "wells": int(r.endpoint["well"].nunique()) if "well" in r.endpoint else None,
            }
            for r in runs
        ],
        "outputs": sorted({str(Path(p).relative_to(outdir)) for p in written} | {"run.json"}),
        "results": _results_summary(result.tables),
        "warnings": result.warnings,
        "messages": result.messages,
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scipy": scipy.__version__,
            "statsmodels": statsmodels.__version__,
        },
    }
    write_json(doc, outdir / "run.json")
