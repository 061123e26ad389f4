"""Experiment files (TOML): every parameter of `run`, so an analysis reruns unchanged.

The keys are the argument names of :func:`incugrowth.pipeline.run`; relative paths are read
relative to the experiment file. ``run.json`` of a finished run converts back into such a file.

Example ``experiment.toml``::

    exports = ["export_red_count.txt"]
    plate_map = "plate_map.csv"
    outdir = "results"
    control = "untreated"
    endpoint_h = 72.0

    [controls]
    "2'3'-cGAMP" = "Lipofectamine"

An experiment file of repeated plates lists the finished runs to combine, or the plates'
experiment files (``.toml``, run first) (``incugrowth combine --config combined.toml``)::

    runs = ["results/day1", "results/day2", "results/day3"]
    outdir = "results/combined"
    control = "untreated"
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from incugrowth._io import atomic_path
from incugrowth.errors import IncugrowthError, input_error

__all__ = [
    "COMBINE_PARAMETERS",
    "RUN_PARAMETERS",
    "config_from_run",
    "load_combine_config",
    "load_config",
    "write_config",
]

#: Parameters of `run` an experiment file may hold, with the type each must have.
RUN_PARAMETERS: dict[str, tuple[type, ...]] = {
    "exports": (list,),
    "frames": (str,),
    "plate_map": (str,),
    "outdir": (str,),
    "control": (str,),
    "controls": (dict,),
    "endpoint_h": (int, float),
    "endpoint_tolerance_h": (int, float),
    "baseline_h": (int, float),
    "combine": (str,),
    "metric": (str,),
    "channel": (str,),
    "diameter": (int, float),
    "jobs": (int,),
    "scheduler": (str,),
    "normalize": (bool,),
    "rate_window": (list,),
    "time_course": (bool,),
    "dead_metric": (str,),
    "dead_channel": (str,),
    "scale": (str,),
    "sharey": (bool,),
}
_PATHS = ("frames", "plate_map", "outdir")

#: Parameters of `combine` an experiment file may hold (the arguments of
#: :func:`incugrowth.combine.combine_runs`).
COMBINE_PARAMETERS: dict[str, tuple[type, ...]] = {
    "runs": (list,),
    "outdir": (str,),
    "control": (str,),
    "controls": (dict,),
}


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise input_error(path, "experiment file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise input_error(path, f"not valid TOML ({exc})") from None


def load_combine_config(path: str | os.PathLike) -> dict:
    """Read an experiment file listing runs to combine into arguments of ``combine_runs``.

    Relative paths (``runs``, ``outdir``) are read relative to the experiment file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "c.toml").write_text('runs = ["day1", "day2"]\\noutdir = "combined"\\n')
    >>> cfg = load_combine_config(d / "c.toml")
    >>> [pathlib.Path(r).name for r in cfg["runs"]], cfg["outdir"] == str(d / "combined")
    (['day1', 'day2'], True)
    """
    path = Path(path)
    raw = _read_toml(path)
    out = {}
    for key, value in raw.items():
        if key not in COMBINE_PARAMETERS:
            known = ", ".join(sorted(COMBINE_PARAMETERS))
            hint = (
                " (a run's parameter: combine takes finished runs)" if key in RUN_PARAMETERS else ""
            )
            raise input_error(path, f"unknown parameter {key!r}{hint}; known: {known}")
        if not isinstance(value, COMBINE_PARAMETERS[key]):
            kinds = " or ".join(t.__name__ for t in COMBINE_PARAMETERS[key])
            raise input_error(path, f"{key!r} must be {kinds}, got {value!r}")
        out[key] = value
    if "runs" in out:
        if not all(isinstance(r, str) for r in out["runs"]):
            raise input_error(path, f"'runs' must list folders (strings), got {out['runs']!r}")
        out["runs"] = [str(path.parent / r) for r in out["runs"]]
    if "outdir" in out:
        out["outdir"] = str(path.parent / out["outdir"])
    return out


def load_config(path: str | os.PathLike) -> dict:
    """Read an experiment file into keyword arguments of :func:`incugrowth.pipeline.run`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "exp.toml").write_text('plate_map = "map.csv"\\nendpoint_h = 72\\n')
    >>> cfg = load_config(d / "exp.toml")
    >>> cfg["endpoint_h"], cfg["plate_map"] == str(d / "map.csv")
    (72, True)
    """
    path = Path(path)
    raw = _read_toml(path)
    out = {}
    for key, value in raw.items():
        if key == "runs":
            raise input_error(
                path, "lists runs to combine: use it with `incugrowth combine --config`"
            )
        if key not in RUN_PARAMETERS:
            raise input_error(
                path, f"unknown parameter {key!r}; known: {', '.join(sorted(RUN_PARAMETERS))}"
            )
        wrong_bool = isinstance(value, bool) and bool not in RUN_PARAMETERS[key]
        if not isinstance(value, RUN_PARAMETERS[key]) or wrong_bool:
            kinds = " or ".join(t.__name__ for t in RUN_PARAMETERS[key])
            raise input_error(path, f"{key!r} must be {kinds}, got {value!r}")
        out[key] = value
    base = path.parent
    for key in _PATHS:
        if key in out:
            out[key] = str(base / out[key])
    if "exports" in out:
        out["exports"] = [str(base / p) for p in out["exports"]]
    return out


def write_config(params: dict, path: str | os.PathLike) -> Path:
    """Write run parameters as an experiment file (parameters left at None are omitted)."""
    import tomli_w

    clean = {k: v for k, v in params.items() if k in RUN_PARAMETERS and v not in (None, {}, [])}
    with atomic_path(path) as tmp:
        tmp.write_text(tomli_w.dumps(clean), encoding="utf-8")
    return Path(path)


def config_from_run(run_json: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Turn the ``run.json`` of a finished run back into an experiment file."""
    run_json = Path(run_json)
    if run_json.is_dir():
        run_json = run_json / "run.json"
    try:
        params = json.loads(run_json.read_text(encoding="utf-8"))["parameters"]
    except (OSError, ValueError, KeyError) as exc:
        raise IncugrowthError(f"{run_json}: not a run.json of incugrowth ({exc})") from None
    params = dict(params)
    params.setdefault("outdir", str(run_json.parent))
    return write_config(params, path)
