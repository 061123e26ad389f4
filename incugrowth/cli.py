"""Command line: `incugrowth run | count | simulate | report | combine | run-many | ...`.

Flags map one to one onto the arguments of the library functions they call.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from incugrowth import __version__
from incugrowth._memory import reuse_freed_memory
from incugrowth.errors import IncugrowthError, IncugrowthWarning, input_error

__all__ = ["main", "cli"]

_RUN_EPILOG = """\b
Examples:
  incugrowth run --export sample_data/export_red_count.txt \\
                 --plate-map sample_data/plate_map.csv -o results
  incugrowth run --frames sample_data/frames --plate-map sample_data/plate_map.csv -o results_frames
  incugrowth run --export count.txt confluence.txt --plate-map plate.PlateMap \\
                 -o out --endpoint 72 --control untreated
  incugrowth run --export exports/*.txt --plate-map plate.csv -o out
  incugrowth run --export red_count.txt green_count.txt --plate-map plate.csv -o out \\
                 --dead-metric "Green Object Count (Per Image)"
"""


class _FilesOption(click.Option):
    """A repeatable option that also takes several values after one flag.

    ``--export a.txt b.txt`` (as a shell glob expands) is the same as
    ``--export a.txt --export b.txt``: the values following the flag are taken up to the next
    option.
    """

    def __init__(self, *args, **kwargs):
        kwargs["multiple"] = True
        super().__init__(*args, **kwargs)

    def add_to_parser(self, parser, ctx):
        super().add_to_parser(parser, ctx)
        prefixes = tuple(parser._opt_prefixes)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is None:
                continue
            store = option.process

            def process(value, state, store=store):
                store(value, state)
                while state.rargs and not state.rargs[0].startswith(prefixes):
                    store(state.rargs.pop(0), state)

            option.process = process


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="incugrowth")
def cli():
    """IncuCyte live-cell imaging to counts, growth curves, statistics and a report."""
    reuse_freed_memory()  # this process (and the workers it forks) counts frames faster


def _load_config(ctx, param, value):
    """Eager ``--config``: the experiment file fills the defaults; flags still override it."""
    if value is None:
        return None
    from incugrowth.config import load_config

    cfg = load_config(value)
    if "controls" in cfg:
        cfg["treatment_controls"] = [f"{t}={c}" for t, c in cfg.pop("controls").items()]
    ctx.default_map = {**(ctx.default_map or {}), **cfg}
    return value


def _parse_controls(values) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise click.BadParameter(
                f"expected TREATMENT=CONTROL (e.g. \"2'3'-cGAMP=Lipofectamine\"), got {v!r}",
                param_hint="--treatment-control",
            )
        t, c = v.split("=", 1)
        out[t.strip()] = c.strip()
    return out


#: The options of `run`, shared with `watch`; each maps onto an argument of pipeline.run.
_RUN_OPTIONS = [
    click.option(
        "--config",
        type=click.Path(path_type=Path),
        is_eager=True,
        expose_value=False,
        callback=_load_config,
        help="Experiment file (TOML) holding any of these options; flags override it.",
    ),
    click.option(
        "--export",
        "exports",
        cls=_FilesOption,
        type=click.Path(path_type=Path),
        metavar="FILE...",
        help="IncuCyte metric export(s) (.txt): one or more files, e.g. several metrics of one "
        "plate.",
    ),
    click.option(
        "--frames",
        type=click.Path(path_type=Path),
        help="IncuCyte image export folder to count instead of an export.",
    ),
    click.option(
        "--plate-map",
        type=click.Path(path_type=Path),
        help="Plate map: long CSV, grid CSV or IncuCyte .PlateMap.",
    ),
    click.option("-o", "--outdir", type=click.Path(path_type=Path), help="Output folder."),
    click.option(
        "--control",
        default="untreated",
        show_default=True,
        help="Treatment that the others are compared with, within each cell line.",
    ),
    click.option(
        "--treatment-control",
        "treatment_controls",
        multiple=True,
        metavar="T=C",
        help="Own control for one treatment, e.g. \"2'3'-cGAMP=Lipofectamine\".",
    ),
    click.option(
        "--endpoint",
        "endpoint_h",
        type=float,
        default=72.0,
        show_default=True,
        help="Endpoint (h): the nearest imaged time point is used.",
    ),
    click.option(
        "--endpoint-tolerance",
        "endpoint_tolerance_h",
        type=float,
        default=6.0,
        show_default=True,
        help="Largest allowed distance (h) to the endpoint.",
    ),
    click.option(
        "--baseline",
        "baseline_h",
        type=float,
        default=None,
        help="Baseline time (h) for percent change [default: first time point].",
    ),
    click.option(
        "--combine",
        type=click.Choice(["mean", "sum"]),
        default="mean",
        show_default=True,
        help="How fields (images) of a well are combined.",
    ),
    click.option("--metric", default=None, help="Count metric to use when an export has several."),
    click.option("--channel", default=None, help="Frame channel to count [default: red]."),
    click.option(
        "--dead-metric",
        default=None,
        metavar="NAME",
        help='Dead-cell count metric of the export(s), e.g. "Green Object Count (Per Image)": '
        "adds the dead fraction and the cytostatic/cytotoxic verdicts.",
    ),
    click.option(
        "--dead-channel",
        default=None,
        metavar="CHANNEL",
        help="Dead-cell dye channel of the frames (e.g. green), counted like the nuclear one.",
    ),
    click.option(
        "--diameter",
        type=float,
        default=None,
        help="Nucleus diameter (px) [default: estimated once per well].",
    ),
    click.option("--jobs", type=int, default=None, help="Parallel processes [default: all cores]."),
    click.option("--scheduler", default=None, help="Address of a dask.distributed scheduler."),
    click.option(
        "--normalize",
        is_flag=True,
        help="Also give counts as percent of the control at each time (curves_vs_control.csv).",
    ),
    click.option(
        "--rate-window",
        type=(float, float),
        default=None,
        metavar="START END",
        help="Hours of the log-linear growth-rate fit [default: whole course].",
    ),
    click.option(
        "--time-course",
        is_flag=True,
        help="Also Dunnett at every time point and the repeated-measures ANOVA, per cell line.",
    ),
    click.option(
        "--scale",
        type=click.Choice(["pct", "log2"]),
        default="pct",
        show_default=True,
        help="Response of the endpoint ANOVA and Dunnett: percent change or log2 fold change "
        "(the other scale's comparisons are written beside).",
    ),
    click.option(
        "--sharey",
        is_flag=True,
        help="One y axis for all cell lines in the growth-curve figures, to compare lines.",
    ),
    click.option("--no-figures", is_flag=True, help="Skip the figures."),
    click.option("--no-report", is_flag=True, help="Skip report.html."),
]


def _run_options(func):
    for option in reversed(_RUN_OPTIONS):
        func = option(func)
    return func


def _unwritable_folder(path: Path) -> str | None:
    """Why the folder ``path`` cannot be used or made, or None when it can."""
    for folder in (path, *path.parents):
        if not folder.exists():
            continue
        if not folder.is_dir():
            return f"{folder} is a file, not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"no permission to write in {folder}"
        return None
    return None


def _check_outdir(outdir: Path) -> None:
    """``-o OUTDIR`` of `run` and `watch`: a folder, existing or not, that can be written."""
    if outdir.exists() and not outdir.is_dir():
        raise input_error(
            outdir, "is a file; -o/--outdir takes the folder for the outputs (new or existing)"
        )
    problem = _unwritable_folder(outdir)
    if problem:
        raise input_error(outdir, f"cannot make the output folder: {problem}")


def _check_output_file(output: Path, example: str = "counts.csv") -> None:
    """``-o FILE`` of `count` and `config`: a file path (not a folder) whose folder exists or
    can be made; `example` is the file name suggested inside a folder given instead."""
    if output.is_dir():
        raise input_error(
            output, f"is a folder; -o/--output takes the file to write, e.g. {output / example}"
        )
    problem = _unwritable_folder(output.parent)
    if problem:
        raise input_error(output, f"cannot write the file here: {problem}")


def _check_scheduler(address: str | None) -> None:
    """Connect to the Dask scheduler once, so that a wrong address is a one-line error.

    The connection waits for the scheduler up to Dask's connect timeout
    (``distributed.comm.timeouts.connect``, 30 s unless configured). A scheduler without
    workers is not an error (workers may be starting) but gets a warning, because frames
    wait for them.
    """
    if not address:
        return
    from incugrowth.batch import connect

    client = connect(address)
    try:
        workers = client.scheduler_info().get("workers")
    finally:
        client.close()
    if not workers:
        click.echo(
            f"warning: the scheduler at {address} has no workers yet; waiting for them "
            f"(start them with `dask worker {address}`)",
            err=True,
        )


def _pipeline_kwargs(opts: dict) -> dict:
    """Check the `run` options and turn them into keyword arguments of pipeline.run."""
    if opts["plate_map"] is None or opts["outdir"] is None:
        raise click.UsageError(
            "--plate-map and -o/--outdir are required (or give them in --config)"
        )
    if not opts["exports"] and opts["frames"] is None:
        raise click.UsageError("give --export FILE (one or more) or --frames DIR")
    if opts["exports"] and opts["frames"] is not None:
        raise click.UsageError("give --export or --frames, not both")
    _check_outdir(opts["outdir"])
    if opts["frames"] is not None:  # only frames are counted on the scheduler's workers
        _check_scheduler(opts["scheduler"])
    kwargs = dict(opts)
    kwargs["exports"] = list(opts["exports"]) or None
    kwargs["controls"] = _parse_controls(kwargs.pop("treatment_controls"))
    kwargs["figures"] = not kwargs.pop("no_figures")
    kwargs["report"] = not kwargs.pop("no_report")
    kwargs["progress"] = sys.stderr.isatty()
    return kwargs


@cli.command(epilog=_RUN_EPILOG)
@_run_options
def run(**opts):
    """Analyse one plate: counts, growth curves, endpoint statistics, figures, report."""
    from incugrowth.pipeline import run as run_pipeline

    result = run_pipeline(**_pipeline_kwargs(opts))
    for text in result.warnings:
        click.echo(f"warning: {text}", err=True)
    for text in result.messages:
        click.echo(f"note: {text}", err=True)
    n_wells = result.tables["growth"]["well"].nunique()
    endpoint_h_used = result.tables["endpoint"]["endpoint_h"].iloc[0]
    click.echo(
        f"{n_wells} wells, endpoint {endpoint_h_used:g} h; outputs in {result.outdir}"
        + (
            f" (report: {result.outdir / 'report.html'})"
            if (result.outdir / "report.html").exists()
            else ""
        )
        + f"; {len(result.warnings)} warning(s)"
    )
    _echo_verdicts(result)


def _echo_verdicts(result) -> None:
    """The verdicts of effects.csv counted, when the run or combine made them."""
    effects = result.tables.get("effects")
    if effects is not None and len(effects):
        tally = effects["verdict"].value_counts()
        words = [f"{tally[w]} {w}" for w in ("cytotoxic", "cytostatic", "no effect", "unclear")
                 if w in tally]  # fmt: skip
        click.echo(f"verdicts (effects.csv): {', '.join(words)}")


@cli.command(
    epilog="\b\nExamples:\n  incugrowth simulate sim --design fig4 --seed 1\n"
    "  incugrowth simulate small --wells D1,D2 --times 0,24,48,72 --crop 256x256 --jobs 2\n"
    "  incugrowth simulate days --plates 3 --no-frames"
)
@click.argument("outdir", type=click.Path(path_type=Path))
@click.option(
    "--design",
    default="fig4",
    show_default=True,
    help="Built-in design (fig4, doses) or a CSV design table.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--size",
    "frame_size",
    default="1408x1040",
    show_default=True,
    help="Frame size WIDTHxHEIGHT in pixels.",
)
@click.option("--times", default=None, help="Comma-separated hours [default: every 4 h to 96 h].")
@click.option("--fields", type=int, default=1, show_default=True, help="Images per well.")
@click.option("--wells", default=None, help="Comma-separated wells to render frames for.")
@click.option("--crop", default=None, help="Write only the central WIDTHxHEIGHT of each frame.")
@click.option("--jobs", type=int, default=None, help="Parallel processes [default: all cores].")
@click.option("--no-frames", is_flag=True, help="Write truth, export and plate maps only.")
@click.option(
    "--plates",
    type=click.IntRange(min=1),
    default=None,
    help="Repeated plates of one experiment, in OUTDIR/plate1 ... plateN, with a plate effect "
    "and plate x condition noise (truth in plates.csv, plate_conditions.csv).",
)
@click.option(
    "--dead-frames",
    is_flag=True,
    help="Also render the dead-cell channel (frames/green/); its counts are in "
    "export_green_count.txt either way.",
)
def simulate(
    outdir,
    design,
    seed,
    frame_size,
    times,
    fields,
    wells,
    crop,
    jobs,
    no_frames,
    plates,
    dead_frames,
):
    """Simulate an IncuCyte experiment with known truth (frames, export, plate maps)."""
    from incugrowth.simulate import simulate_experiment, simulate_plates

    options = dict(
        design=design,
        seed=seed,
        frame_shape=_size(frame_size, "--size"),
        times=None if times is None else _hours_list(times, "--times"),
        fields=fields,
        wells=None if wells is None else [w.strip() for w in wells.split(",")],
        crop=None if crop is None else _size(crop, "--crop"),
        render_frames=not no_frames,
        dead_frames=dead_frames,
        jobs=jobs,
        progress=sys.stderr.isatty(),
    )
    if plates is not None:
        info = simulate_plates(outdir, plates, **options)
        click.echo(f"simulated {plates} plate(s) of design {design!r} (seed {seed}) into {outdir}")
        return info
    info = simulate_experiment(outdir, **options)
    click.echo(f"simulated design {design!r} (seed {seed}) into {outdir}")
    return info


def _hours_list(text: str, hint: str) -> list[float]:
    """'0,24,48' to [0.0, 24.0, 48.0]."""
    try:
        return [float(t) for t in text.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"expected hours separated by commas (e.g. 0,24,48,72), got {text!r}",
            param_hint=hint,
        ) from None


def _size(text: str, hint: str) -> tuple[int, int]:
    """'WIDTHxHEIGHT' to (height, width)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT, got {text!r}", param_hint=hint) from None
    return h, w


@cli.command(epilog="\b\nExample:\n  incugrowth count sample_data/frames -o counts.csv --jobs 2")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Counts table to write (CSV).",
)
@click.option("--channel", default=None, help="Channel to count [default: red, else the only one].")
@click.option(
    "--diameter",
    type=float,
    default=None,
    help="Nucleus diameter (px) [default: estimated once per well].",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=None,
    help="Parallel processes [default: all cores].",
)
@click.option("--scheduler", default=None, help="Address of a dask.distributed scheduler.")
def count(folder, output, channel, diameter, jobs, scheduler):
    """Count nuclei in every frame of an IncuCyte image export (one row per frame).

    The nucleus size is estimated once per well (from a sample of its frames) and every
    frame of the well is counted with it; the sizes per well are written beside OUTPUT
    (for counts.csv: counts_sizes.csv).
    """
    import warnings

    from incugrowth._io import write_csv
    from incugrowth.batch import count_folder

    _check_output_file(output)
    _check_scheduler(scheduler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        counts = count_folder(
            folder,
            channel=channel,
            diameter=diameter,
            jobs=jobs,
            scheduler=scheduler,
            cache_dir=output.parent / f".{output.name}.cache",
            progress=sys.stderr.isatty(),
        )
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    write_csv(counts, output)
    from incugrowth.batch import size_table

    sizes = size_table(counts)
    sizes_text = ""
    if sizes is not None:
        sizes_path = output.with_name(f"{output.stem}_sizes.csv")
        write_csv(sizes, sizes_path)
        sizes_text = f" and {sizes_path.name} (nucleus size per well)"
    flagged = int((counts["qc_flag"] != "").sum())
    phase = counts.attrs.get("phase_measured", 0)
    phase_text = f", {phase} phase frames measured now" if phase else ""
    click.echo(
        f"{len(counts)} frames ({counts.attrs.get('measured', len(counts))} counted now"
        f"{phase_text}), {flagged} with a QC flag; wrote {output}{sizes_text}"
    )


@cli.command(epilog="\b\nExample:\n  incugrowth report results")
@click.argument("outdir", type=click.Path(path_type=Path))
def report(outdir):
    """Rebuild OUTDIR/report.html and the Prism tables (OUTDIR/prism/) from a finished run
    (or the report of a combine folder)."""
    from incugrowth.report import report_command

    click.echo(f"wrote {report_command(outdir)}")


@cli.command(
    "config",
    epilog="\b\nExample:\n  incugrowth config results -o experiment.toml\n"
    "  incugrowth run --config experiment.toml",
)
@click.argument("outdir", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Experiment file (TOML) to write.",
)
def config_cmd(outdir, output):
    """Write the parameters of a finished run as an experiment file, to rerun it unchanged."""
    from incugrowth.config import config_from_run

    _check_output_file(output, "experiment.toml")
    click.echo(f"wrote {config_from_run(outdir, output)}")


@cli.command(
    epilog="\b\nExample:\n  incugrowth watch --frames /data/plate1 --plate-map plate1.PlateMap "
    "-o results/plate1 --interval 300"
)
@_run_options
@click.option(
    "--interval",
    "interval_s",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds between checks for new data.",
)
@click.option(
    "--idle-timeout",
    "idle_timeout_s",
    type=float,
    default=None,
    help="Stop after this many seconds without new data [default: never].",
)
def watch(interval_s, idle_timeout_s, **opts):
    """Follow a growing export folder and refresh the outputs and report as data arrive."""
    from incugrowth.pipeline import watch as watch_pipeline

    updates = watch_pipeline(
        interval_s=interval_s, idle_timeout_s=idle_timeout_s, **_pipeline_kwargs(opts)
    )
    said: set[str] = set()
    for result in updates:
        for text in result.warnings:  # each warning once, when it first appears
            if text not in said:
                said.add(text)
                click.echo(f"warning: {text}", err=True)
        last = result.tables["growth"]["elapsed_h"].max()
        click.echo(
            f"updated {result.outdir}: data to {last:g} h, {len(result.warnings)} warning(s)"
        )


@cli.command(
    "run-many",
    epilog="\b\nExample:\n  incugrowth run-many plates/*.toml --scheduler tcp://10.0.0.5:8786",
)
@click.argument("configs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--scheduler", default=None, help="Address of a dask.distributed scheduler.")
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=None,
    help="Local processes when there is no scheduler.",
)
@click.option(
    "--combine",
    "combine_outdir",
    type=click.Path(path_type=Path),
    default=None,
    metavar="OUTDIR",
    help="Then combine the plates (repeated experiments) into OUTDIR, as `incugrowth combine`.",
)
def run_many(configs, scheduler, jobs, combine_outdir):
    """Analyse many plates, one experiment file (TOML) each; a bad plate does not stop the rest."""
    from incugrowth.pipeline import run_many as run_many_pipeline

    if combine_outdir is not None:
        _check_outdir(combine_outdir)
    _check_scheduler(scheduler)
    failed = []

    def report(cfg, exc):
        failed.append(cfg)
        text = _os_error_text(exc) if isinstance(exc, OSError) else str(exc)
        if not text.startswith(str(cfg)):  # name the plate (its experiment file)
            text = f"{cfg}: {text}"
        click.echo(f"incugrowth: error: {text}", err=True)

    results = run_many_pipeline(configs, scheduler=scheduler, jobs=jobs, on_error=report)
    for cfg, res in zip(configs, results):
        if not isinstance(res, Exception):
            click.echo(f"{cfg}: outputs in {res.outdir}; {len(res.warnings)} warning(s)")
    done = [res for res in results if not isinstance(res, Exception)]
    if combine_outdir is not None:
        if len(done) < 2:
            click.echo(
                f"incugrowth: error: {combine_outdir}: not combined: {len(done)} plate(s) "
                "finished, combining needs two or more",
                err=True,
            )
            raise click.exceptions.Exit(2)
        _combine(
            [res.outdir for res in done],
            combine_outdir,
            control=done[0].parameters["control"],
            controls=done[0].parameters.get("controls") or {},
        )
    if failed:
        raise click.exceptions.Exit(2)


_COMBINE_EPILOG = """\b
Examples:
  incugrowth combine results/day1 results/day2 results/day3 -o results/combined
  incugrowth combine --config combined.toml
  incugrowth combine day1.toml day2.toml day3.toml -o results/combined
  incugrowth run-many day1.toml day2.toml day3.toml --combine results/combined
"""


def _load_combine_config(ctx, param, value):
    """Eager ``--config`` of combine: the experiment file fills the defaults."""
    if value is None:
        return None
    from incugrowth.config import load_combine_config

    cfg = load_combine_config(value)
    if "controls" in cfg:
        cfg["treatment_controls"] = [f"{t}={c}" for t, c in cfg.pop("controls").items()]
    ctx.default_map = {**(ctx.default_map or {}), **cfg}
    return value


@cli.command(epilog=_COMBINE_EPILOG)
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    is_eager=True,
    expose_value=False,
    callback=_load_combine_config,
    help="Experiment file (TOML) listing the runs (runs = [...]) and these options.",
)
@click.option("-o", "--outdir", type=click.Path(path_type=Path), help="Output folder.")
@click.option(
    "--control",
    default="untreated",
    show_default=True,
    help="Treatment that the others are compared with, within each cell line.",
)
@click.option(
    "--treatment-control",
    "treatment_controls",
    multiple=True,
    metavar="T=C",
    help="Own control for one treatment, e.g. \"2'3'-cGAMP=Lipofectamine\".",
)
@click.option("--runs", hidden=True, multiple=True, type=click.Path(path_type=Path))
@click.option("--no-figures", is_flag=True, help="Skip the figures.")
@click.option("--no-report", is_flag=True, help="Skip report.html.")
def combine(run_dirs, outdir, control, treatment_controls, runs, no_figures, no_report):
    """Combine finished runs of repeated plates, the plate as the replicate.

    Each RUN_DIR is the output folder of `incugrowth run` for one plate (or a plate's
    experiment file, .toml, which is run first). The endpoint percent
    change is averaged over the wells of each plate x condition, then analysed as
    pct_change ~ plate + cell_line * treatment (two-way ANOVA with the plate as a block,
    Type III) with Dunnett's comparisons against each treatment's control within each cell
    line; a mixed model of the wells is written beside it as a sensitivity analysis.
    """
    run_dirs = list(run_dirs) or list(runs)
    if len(run_dirs) < 2:
        raise click.UsageError("give two or more RUN_DIRs (or runs = [...] in --config)")
    if outdir is None:
        raise click.UsageError("-o/--outdir is required (or give it in --config)")
    _check_outdir(outdir)
    _combine(
        _run_plates(run_dirs),
        outdir,
        control=control,
        controls=_parse_controls(treatment_controls),
        figures=not no_figures,
        report=not no_report,
    )


def _run_plates(items) -> list[Path]:
    """The run folders to combine; a plate's experiment file (.toml) is run first."""
    out = []
    for item in map(Path, items):
        if item.suffix.lower() != ".toml":
            out.append(item)
            continue
        from incugrowth.config import load_config
        from incugrowth.pipeline import run as run_pipeline

        result = run_pipeline(**load_config(item))
        click.echo(f"{item}: outputs in {result.outdir}; {len(result.warnings)} warning(s)")
        out.append(result.outdir)
    return out


def _combine(run_dirs, outdir, **options) -> None:
    from incugrowth.combine import combine_runs

    result = combine_runs(run_dirs, outdir, **options)
    for text in result.warnings:
        click.echo(f"warning: {text}", err=True)
    for text in result.messages:
        click.echo(f"note: {text}", err=True)
    report = result.outdir / "report.html"
    click.echo(
        f"combined {len(run_dirs)} plates, endpoint {result.parameters['endpoint_h']:g} h; "
        f"outputs in {result.outdir}"
        + (f" (report: {report})" if report.exists() else "")
        + f"; {len(result.warnings)} warning(s)"
    )
    _echo_verdicts(result)


def _os_error_text(exc: OSError) -> str:
    """An error of the system as one line: the file, then the reason."""
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as the command line says it: ``warning: <text>``, without the source file
    and line of Python's default format (which name the code, not the input)."""
    kind = "" if issubclass(category, IncugrowthWarning) else f" ({category.__name__})"
    click.echo(f"warning: {message}{kind}", err=True)


def main(argv=None) -> int:
    """Entry point: run the command line and return the exit status."""
    import warnings

    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv) -> int:
    try:
        status = cli.main(args=argv, prog_name="incugrowth", standalone_mode=False)
    except IncugrowthError as exc:
        click.echo(f"incugrowth: error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("incugrowth: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except OSError as exc:  # the system refused a read or write (permissions, disk full, ...)
        click.echo(f"incugrowth: error: {_os_error_text(exc)}", err=True)
        return 2
    # Without standalone mode click hands back the status of a `raise Exit(n)`.
    return status if isinstance(status, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
