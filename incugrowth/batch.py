"""Count many frames: in parallel processes or on a Dask cluster, resumable, with flat memory.

Each finished frame is appended to a journal (``frame_counts.jsonl`` in the cache folder) as
soon as it is measured. A rerun reads the journal and measures only frames that are new or
changed (path, size and modification time, and the counting options, are the key), so an
interrupted run continues where it stopped and a rerun with nothing changed counts nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from incugrowth import __version__
from incugrowth._io import naming_file
from incugrowth._memory import reuse_freed_memory
from incugrowth.errors import IncugrowthError, IncugrowthWarning, input_error

__all__ = [
    "count_folder",
    "count_frames",
    "measure_path",
    "records_to_counts",
    "size_table",
    "reuse_freed_memory",
]

JOURNAL = "frame_counts.jsonl"
_QC_FLAGS = ("out_of_focus", "saturated", "empty")
#: Part of the journal key: raised when a record gains a field that older records lack, or
#: a measurement changes (2: ``blank``; 3: the phase confluence's threshold; 4: the focus
#: score, noise-corrected and scaled to the nucleus size; 5: one size per well, the size
#: used ``diameter_px`` and the frame's own ``frame_diameter_px``; 6: the phase confluence's
#: local contrast over the dish's level, halo peeled), so that frames
#: measured before are measured again rather than misread or mixed with new values.
_RECORD_VERSION = 6


def measure_path(
    path: str,
    *,
    kind: str = "nuclei",
    diameter: float | None = None,
    segmenter: Callable | None = None,
    dish: float | None = None,
) -> dict:
    """Read one frame and measure it; never raises for a bad file (the record says why).

    ``kind`` is ``"nuclei"`` (count with `diameter`, or with the frame's own estimate when
    it is None or NaN; QC), ``"confluence"`` (phase confluence in percent, and the frame's
    own dish level ``dish_contrast``; `dish` is the well's dish level, see
    :mod:`incugrowth.dish`) or ``"size"`` (the frame's own nucleus size estimate only,
    ``frame_diameter_px``).
    """
    from incugrowth.frames import read_frame

    try:
        image = read_frame(path)
    except IncugrowthError as exc:
        return {"path": path, "kind": kind, "error": str(exc)}
    rec: dict = {"path": path, "kind": kind, "height": image.shape[0], "width": image.shape[1]}
    if kind == "confluence":
        from incugrowth.image.confluence import measure_phase

        rec.update(measure_phase(image, dish=dish))
        rec["blank"] = bool(image.size and not np.nanmax(image) > np.nanmin(image))
        return rec
    from incugrowth.image import estimate_diameter, measure_frame

    if kind == "size":
        rec["frame_diameter_px"] = float(estimate_diameter(image))
        return rec
    if diameter is not None and not np.isfinite(diameter):
        diameter = None  # no size known for the plate: the frame's own
    m = measure_frame(image, diameter=diameter, segmenter=segmenter)
    m["diameter_px"] = m.pop("diameter")
    for key, value in m.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (int, float, bool, str)) or value is None:
            rec[key] = value
    return rec


def _options_key(kind: str, diameter, segmenter) -> str:
    name = None if segmenter is None else getattr(segmenter, "__qualname__", repr(segmenter))
    if diameter is not None:
        diameter = None if not np.isfinite(diameter) else round(float(diameter), 4)
    text = json.dumps([__version__, _RECORD_VERSION, kind, diameter, name])
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _file_key(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


class _Journal:
    """Append-only record of measured frames.

    A line that is not a whole record (the last one of a run killed while writing it, or
    damage) is ignored, and the next record starts on a line of its own.
    """

    def __init__(self, cache_dir: Path | None):
        self.path = None if cache_dir is None else Path(cache_dir) / JOURNAL
        self.done: dict[tuple[str, str], dict] = {}
        if self.path is not None and self.path.exists():
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                        self.done[(rec["path"], rec["_options"])] = rec
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue
        self._fh = None

    def lookup(self, path: str, options: str) -> dict | None:
        rec = self.done.get((path, options))
        if rec is None:
            return None
        try:
            key = _file_key(path)
        except FileNotFoundError:  # gone since it was listed: measured, and found unreadable
            return None
        return rec if rec.get("_file") == key else None

    def add(self, rec: dict) -> None:
        if self.path is None:
            return
        try:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a+b")  # noqa: SIM115
                if self._fh.tell():  # end a torn last line, or this record would join it
                    self._fh.seek(-1, os.SEEK_END)
                    if self._fh.read(1) != b"\n":
                        self._fh.write(b"\n")
            self._fh.write(json.dumps(rec).encode() + b"\n")
            self._fh.flush()
        except OSError as exc:
            raise naming_file(exc, self.path) from None

    def close(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            try:
                fh.close()
            except OSError as exc:  # what could not be written: those frames are measured again
                raise naming_file(exc, self.path) from None


def _bounded(submit, items: Iterable, window: int) -> Iterator:
    """Yield results of ``submit(item)`` futures, keeping at most ``window`` in flight."""
    from concurrent.futures import FIRST_COMPLETED, wait

    pending: set = set()
    queue = deque(items)
    while queue or pending:
        while queue and len(pending) < window:
            pending.add(submit(queue.popleft()))
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for fut in done:
            yield fut.result()


def _run_local(fn, paths, jobs):
    if jobs == 1:
        yield from map(fn, paths)
        return
    from concurrent.futures import ProcessPoolExecutor

    with (
        single_threaded_opencv(),
        ProcessPoolExecutor(max_workers=jobs, initializer=_end_with_parent) as pool,
    ):
        yield from _bounded(lambda p: pool.submit(fn, p), paths, 4 * jobs)


def _end_with_parent(interval: float = 0.5) -> None:
    """Worker-process initializer: end this worker when the process that started it ends.

    A process killed (``kill -9``, or ``kill``/SIGTERM as a batch system sends it at its time
    limit) cannot stop its workers; they would wait for a next frame for ever, each holding
    its memory and a core if it was counting. A thread of the worker checks every `interval`
    seconds whether its parent is still the one it started with (when the parent ends, the
    worker is handed to another process).
    """
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="incugrowth-end-with-parent", daemon=True).start()


_OPENCV_LOCK = threading.Lock()
_opencv_users = 0
_opencv_threads = 0


@contextmanager
def single_threaded_opencv():
    """OpenCV's thread pool stopped (its threads joined) for the duration, then restored.

    Worker processes are forked from this one; a fork copies the pool's lock but not its
    threads, so a worker forked while one of those threads held the lock hangs at its first
    OpenCV call. With one thread there is no pool thread to hold it. Nested and concurrent
    uses (two batches in two threads) share one stop: the last to leave restores the count.
    """
    global _opencv_users, _opencv_threads
    with _OPENCV_LOCK:
        if _opencv_users == 0:
            _opencv_threads = cv2.getNumThreads()
            cv2.setNumThreads(1)
        _opencv_users += 1
    try:
        yield
    finally:
        with _OPENCV_LOCK:
            _opencv_users -= 1
            if _opencv_users == 0:
                cv2.setNumThreads(_opencv_threads)


def connect(address: str):
    """A ``distributed.Client`` of the Dask scheduler at `address` (``tcp://HOST:PORT``).

    Raises :class:`IncugrowthError` naming the address when dask.distributed is not
    installed, the address is malformed, or no scheduler answers there within Dask's
    connect timeout (``distributed.comm.timeouts.connect``, 30 s unless configured).
    """
    try:
        from distributed import Client
    except ImportError:
        raise IncugrowthError(
            "--scheduler needs dask.distributed: pip install 'incugrowth[dask]'"
        ) from None
    where = f"cannot connect to the Dask scheduler at {address}"
    try:
        _parse_scheduler_address(address)
    except (ValueError, TypeError) as exc:
        raise IncugrowthError(
            f"{where}: not an address ({exc}); give it as tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"
        ) from None
    try:
        return Client(address, set_as_default=False)
    except (OSError, ValueError, TypeError) as exc:
        raise IncugrowthError(
            f"{where} ({exc}): start it with `dask scheduler` or check the address"
        ) from None


def _parse_scheduler_address(address: str) -> None:
    """Raise ValueError for an address Dask cannot parse (before a client is made for it:
    a client that fails on a malformed address stalls the interpreter's exit for a minute)."""
    from distributed.comm.addressing import get_address_host_port, parse_address
    from distributed.comm.registry import get_backend

    scheme, _ = parse_address(address)
    get_backend(scheme)  # an unknown scheme
    if scheme in ("tcp", "tls", "ws", "wss"):
        get_address_host_port(address)  # a missing or malformed port


def _run_dask(fn, paths, scheduler):
    client = connect(scheduler) if isinstance(scheduler, str) else scheduler
    from distributed import as_completed

    # workers may run in another folder: they get absolute paths, the records the given ones
    tasks = [(t,) if isinstance(t, str) else t for t in paths]
    given = {os.path.abspath(t[0]): t[0] for t in tasks}
    try:
        window = 4 * max(1, sum(client.nthreads().values()))
        queue = deque(
            os.path.abspath(t[0]) if len(t) == 1 else (os.path.abspath(t[0]), *t[1:]) for t in tasks
        )
        ac = as_completed(loop=client.loop)  # this client's, not a default one
        while queue and ac.count() < window:
            ac.add(client.submit(fn, queue.popleft(), pure=False))
        for fut in ac:
            rec = fut.result()
            host = rec.pop("_missing_on", None)
            if host is not None and os.path.exists(rec["path"]):
                raise IncugrowthError(
                    f"{rec['path']}: the Dask worker on {host} cannot see this frame, which is "
                    "here; the frames must be on a file system the workers share, under the "
                    "same path"
                )
            rec["path"] = given[rec["path"]]
            yield rec
            fut.release()
            if queue:
                ac.add(client.submit(fn, queue.popleft(), pure=False))
    finally:
        if isinstance(scheduler, str):
            client.close()


class _Measure:
    """Picklable per-frame job (closures cannot go to worker processes).

    Called with a path, or a ``(path, diameter)`` task when the size differs from frame
    to frame (one per well).
    """

    def __init__(self, kind, diameter, segmenter, options):
        self.kind, self.diameter, self.segmenter, self.options = kind, diameter, segmenter, options
        self.caller = os.getpid()

    def __call__(self, task) -> dict:
        path, diameter = (task, self.diameter) if isinstance(task, str) else task
        options = (
            self.options
            if isinstance(task, str)
            else _options_key(self.kind, diameter, self.segmenter)
        )
        if os.getpid() != self.caller:
            # a worker process: the workers already use every core, so OpenCV's own threads
            # would only compete (in the caller's process, e.g. jobs=1 or a threads-only Dask
            # client, the settings stay the caller's)
            cv2.setNumThreads(1)
            reuse_freed_memory()
        try:
            # the key of the file as it is before it is read: a frame rewritten while it is
            # measured keeps its old key, so the next run measures it again
            key = _file_key(path)
        except FileNotFoundError:
            # not kept in the journal (no key); on a Dask worker, a frame the client sees
            # but the worker does not is an error (see _run_dask)
            error = str(input_error(path, "frame file not found"))
            return {"path": path, "kind": self.kind, "error": error, "_options": options,
                    "_file": None, "_missing_on": socket.gethostname()}  # fmt: skip
        rec = measure_path(path, kind=self.kind, diameter=diameter, segmenter=self.segmenter)
        rec["_options"] = options
        rec["_file"] = key
        return rec


def count_frames(
    frames: pd.DataFrame,
    *,
    kind: str = "nuclei",
    diameter: float | None = None,
    segmenter: Callable | None = None,
    jobs: int | None = None,
    scheduler=None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    prepared: bool = False,
) -> pd.DataFrame:
    """Measure every frame of a frames table; returns one record per frame (same order).

    Parameters
    ----------
    frames : DataFrame
        The frames table (``path``, ``well``, ``field``, ``elapsed_h``, ``channel``).
    kind : {"nuclei", "confluence"}
        Count nuclei, or measure phase confluence.
    jobs : int, optional
        Local worker processes (default, or 0: all cores); 1 runs in this process.
    scheduler : str or distributed.Client, optional
        A Dask scheduler address (or client): frames are measured on its workers instead.
    cache_dir : path, optional
        Where the journal of measured frames lives; frames already in it are not measured again.

    prepared : bool
        The measurement's compiled loops were made ready in this process already (by an
        earlier pass of the same batch), so workers start without preparing them again.

    A ``diameter_px`` column in `frames` gives each frame its own nucleus size (one per well,
    see :func:`incugrowth.image.calibrate.well_sizes`), overriding `diameter`.
    """
    if jobs is not None and jobs < 0:
        raise IncugrowthError(f"--jobs takes a number of processes (1 or more), got {jobs}")
    options = _options_key(kind, diameter, segmenter)
    journal = _Journal(None if cache_dir is None else Path(cache_dir))
    paths = [str(p) for p in frames["path"]]
    tasks = _tasks(frames, paths, kind, segmenter)
    results: dict[str, dict] = {}
    todo = []
    for p, task in zip(paths, tasks, strict=True):
        key = options if task is None else _options_key(kind, task[1], segmenter)
        rec = journal.lookup(p, key)
        if rec is None:
            todo.append(p if task is None else task)
        else:
            results[p] = rec
    jobs = jobs or os.cpu_count() or 1
    if todo and segmenter is None:
        _say_if_compiling()
    fn = _Measure(kind, diameter, segmenter, options)
    stream = _run_dask(fn, todo, scheduler) if scheduler else _run_local(fn, todo, jobs)
    desc = {"confluence": "measuring", "size": "sizing"}.get(kind, "counting")
    bar = _progress(len(todo), progress, desc)
    try:
        ready = todo and segmenter is None and (scheduler is not None or jobs > 1)
        if ready and not prepared:
            # compile (or load) the measurement's loops here, once, before workers start
            from incugrowth.image.measure import prepare

            bar.set_postfix_str("preparing (the first run compiles, about 20 s)")
            prepare("nuclei" if kind == "size" else kind)  # sizes use the counter's loops
            bar.set_postfix_str("")
        for rec in stream:
            if rec["_file"] is not None:  # a frame gone before it was read has no key
                journal.add(rec)
            results[rec["path"]] = rec
            bar.update(1)
    finally:
        bar.close()
        journal.close()
    out = pd.DataFrame([results[p] for p in paths])
    out.attrs["measured"] = len(todo)
    out.attrs["reused"] = len(paths) - len(todo)
    out.attrs["prepared"] = bool(ready or prepared)
    return out


def _tasks(frames: pd.DataFrame, paths: list[str], kind: str, segmenter) -> list:
    """Per-frame ``(path, diameter)`` tasks when `frames` gives each frame its size
    (``diameter_px``), else None for each frame (one size for all)."""
    if kind != "nuclei" or segmenter is not None or "diameter_px" not in frames:
        return [None] * len(paths)
    sizes = pd.to_numeric(frames["diameter_px"], errors="coerce").to_numpy(float)
    return [(p, float(d) if np.isfinite(d) else None) for p, d in zip(paths, sizes, strict=True)]


_SAID_COMPILING = False


def _say_if_compiling() -> None:
    """One line on stderr, once a process, when the counter's compiled loops are not cached
    yet: the first count of a new installation then waits about 25 s without a frame done."""
    global _SAID_COMPILING
    from incugrowth.image.measure import compiled_loops_cached

    if _SAID_COMPILING or compiled_loops_cached() is not False:
        return
    _SAID_COMPILING = True
    print(
        "incugrowth: compiling the counter for this installation (once, about 25 s; "
        "later runs load it from the cache)",
        file=sys.stderr,
        flush=True,
    )


def _progress(total: int, enabled: bool, desc: str):
    """A progress bar: a widget in Jupyter when ipywidgets is installed, text otherwise
    (without tqdm's advice to install ipywidgets, printed on every notebook run)."""
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "IProgress not found", TqdmWarning)
        from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled or total == 0, desc=desc, unit="frame")


def records_to_counts(frames: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Join frame records to the frames table and build the counts table with QC flags.

    Flags (``;``-joined in ``qc_flag``): ``unreadable`` (the file could not be read: count
    missing), ``blank`` (every pixel has the same value, e.g. a failed acquisition written
    as zeros: there is no image, so the count is missing, not 0), ``odd_size`` (not the
    plate's usual frame size), ``out_of_focus`` (below the focus threshold, or much less
    sharp than the other frames of its well, see :func:`incugrowth.image.flag_focus_drops`),
    ``saturated``, ``empty`` (no nucleus in a
    frame that has an image: a valid count of 0), ``size_disagrees`` (the frame's own
    nucleus size estimate, ``frame_diameter_px``, is outside 0.67-1.5 times the size it was
    counted with, ``diameter_px``, see :func:`incugrowth.image.calibrate.size_disagrees`)
    and ``count_jump`` (a count far from its neighbours in time, see
    :func:`incugrowth.image.flag_count_jumps`). A blank frame carries none of the
    image-quality flags (``out_of_focus``, ``saturated``, ``empty``, ``size_disagrees``);
    an empty frame has no nucleus to size, so no ``size_disagrees``.
    """
    rec = records.drop(columns=[c for c in records if c.startswith("_") or c == "kind"])
    df = frames[["path", "well", "field", "elapsed_h"]].merge(rec, on="path", how="left")
    if "count" not in df.columns:
        df["count"] = np.nan
    flags = pd.DataFrame(index=df.index)
    err = df["error"] if "error" in df.columns else pd.Series(np.nan, index=df.index)
    flags["unreadable"] = err.notna()
    blank = df["blank"].fillna(False).astype(bool) if "blank" in df.columns else False
    flags["blank"] = blank & ~flags["unreadable"]
    if flags["blank"].any():
        df["count"] = df["count"].where(~flags["blank"])
    if {"height", "width"} <= set(df.columns) and df["height"].notna().any():
        shape = (
            df["height"].astype("Int64").astype(str) + "x" + df["width"].astype("Int64").astype(str)
        )
        usual = shape[~flags["unreadable"]].mode().iloc[0]
        flags["odd_size"] = (shape != usual) & ~flags["unreadable"]
    for name in _QC_FLAGS:
        flags[name] = df[name].fillna(False).astype(bool) if name in df.columns else False
        flags[name] &= ~flags["blank"]
    if "focus" in df.columns:
        flags["out_of_focus"] |= _focus_drops(df, flags["blank"] | flags["empty"])
    for name in _QC_FLAGS:  # the columns say what qc_flag says
        if name in df.columns:
            df[name] = flags[name]
    if {"diameter_px", "frame_diameter_px"} <= set(df.columns):
        from incugrowth.image.calibrate import size_disagrees

        flags["size_disagrees"] = size_disagrees(df["frame_diameter_px"], df["diameter_px"])
        flags["size_disagrees"] &= ~(flags["blank"] | flags["unreadable"] | flags["empty"])
    flags["count_jump"] = _count_jumps(df)
    df["qc_flag"] = flags.apply(lambda r: ";".join(n for n, v in r.items() if v), axis=1)
    if flags["unreadable"].any():
        bad = df.loc[flags["unreadable"], "error"]
        warnings.warn(
            f"{len(bad)} frame(s) could not be read and are left out (QC flag 'unreadable'); "
            f"first: {bad.iloc[0]}",
            IncugrowthWarning,
            stacklevel=2,
        )
    if flags["blank"].any():
        _warn_blank(df.loc[flags["blank"], "path"], "frame(s)", "are left out", "blank")
    if flags["odd_size"].any() if "odd_size" in flags else False:
        warnings.warn(
            f"{int(flags['odd_size'].sum())} frame(s) differ in size from the others "
            "(QC flag 'odd_size'); they are counted but check them",
            IncugrowthWarning,
            stacklevel=2,
        )
    front = ["well", "field", "elapsed_h", "count", "qc_flag"]
    rest = [c for c in df.columns if c not in front and c != "error"]
    out = df[front + rest + (["error"] if "error" in df.columns else [])]
    return out.sort_values(["well", "field", "elapsed_h"], key=_sort_key).reset_index(drop=True)


def _warn_blank(paths: pd.Series, what: str, outcome: str, flag: str) -> None:
    """Warn that the frames at `paths` are blank, naming the first few."""
    from incugrowth.kinetics import _short_list

    warnings.warn(
        f"{len(paths)} {what} are blank (every pixel the same value: no image); {outcome} "
        f"(QC flag '{flag}'): {_short_list(paths.astype(str), limit=3)}",
        IncugrowthWarning,
        stacklevel=3,
    )


def _sort_key(col: pd.Series) -> pd.Series:
    if col.name != "well":
        return col
    return col.map(lambda w: (str(w)[:1], int(str(w)[1:]) if str(w)[1:].isdigit() else 0))


def _focus_drops(df: pd.DataFrame, skip: pd.Series) -> pd.Series:
    """Frames much less sharp than the other frames of their well (see
    :func:`incugrowth.image.flag_focus_drops`); `skip` frames (blank, empty: nothing in
    focus) are neither judged nor counted in the well's median."""
    from incugrowth.image import flag_focus_drops

    focus = pd.to_numeric(df["focus"], errors="coerce").where(~skip)
    return flag_focus_drops(df[["well"]].assign(focus=focus))


def _count_jumps(df: pd.DataFrame) -> pd.Series:
    try:
        from incugrowth.image import flag_count_jumps
    except ImportError:
        return pd.Series(False, index=df.index)
    ordered = df.sort_values(["well", "field", "elapsed_h"])
    flagged = flag_count_jumps(ordered, by=("well", "field"), time="elapsed_h", col="count")
    return pd.Series(np.asarray(flagged, dtype=bool), index=ordered.index).reindex(df.index)


def count_folder(
    folder: str | os.PathLike,
    *,
    channel: str | None = None,
    diameter: float | None = None,
    segmenter: Callable | None = None,
    jobs: int | None = None,
    scheduler=None,
    cache_dir: str | os.PathLike | None = None,
    confluence: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Find the frames of an image export, count the nuclear channel, return the counts table.

    When the export also has a phase channel and ``confluence`` is true, the phase confluence
    of each well, field and time is added as the ``confluence`` column. A phase frame that
    cannot be read, or is blank (every pixel the same value), leaves its confluence empty,
    adds the QC flag ``phase_unreadable`` or ``phase_blank`` to the row, and is named in a
    warning.

    When the frames to count are phase contrast (the only channel, ``channel="phase"``, or
    frames that name no channel but look like phase contrast, see :func:`_unnamed_phase`)
    and no `segmenter` is given, the built-in counter, made for fluorescent nuclei, is not
    used: the growth measure in ``count`` is then the phase confluence (percent) of each
    frame, with a warning, and ``attrs["measure"]`` is ``"confluence"`` (else ``"count"``).

    Without a `segmenter`, the nucleus size is one per well (see :func:`_size_wells`):
    ``diameter_px`` is the size each frame was counted with, ``frame_diameter_px`` the
    frame's own estimate for the frames of the sample that set the size (the check; QC
    flag ``size_disagrees`` where they disagree; NaN for the others), and
    :func:`size_table` gives the per-well table of sizes (from ``attrs["sizes"]``); wells
    whose counts rest on an uncertain size are named in a warning. ``attrs["sized"]`` is
    the number of frames whose size was estimated before counting by this call.

    The table's ``attrs["measured"]`` is the number of nuclear frames counted by this call
    (the others came from the journal in `cache_dir`), ``attrs["reused"]`` the rest, and
    ``attrs["phase_measured"]`` the number of phase frames whose confluence it measured.
    """
    from incugrowth.frames import find_frames, select_channel

    frames = find_frames(folder)
    nuclear = select_channel(frames, channel)
    kind = str(nuclear["channel"].iloc[0]).lower()
    if kind == "unknown" and segmenter is None and _unnamed_phase(nuclear, folder):
        kind = "phase"
    if kind == "phase" and segmenter is None:
        return _confluence_as_measure(nuclear, diameter, jobs, scheduler, cache_dir, progress)
    sizes, sized, prepared = None, 0, False
    if segmenter is None:
        nuclear, sizes, sized, prepared = _size_wells(
            nuclear, diameter, jobs, scheduler, cache_dir, progress
        )
    records = count_frames(
        nuclear,
        diameter=diameter,
        segmenter=segmenter,
        jobs=jobs,
        scheduler=scheduler,
        cache_dir=cache_dir,
        progress=progress,
        prepared=prepared,
    )
    if sizes is not None:
        records = _with_known_sizes(records, nuclear)
    counts = records_to_counts(nuclear, records)
    if sizes is not None:
        sizes = _finish_sizes(sizes, counts)
    phase = frames[frames["channel"] == "phase"]
    conf = None
    if confluence and len(phase) and nuclear["channel"].iloc[0] != "phase":
        conf = _confluence_records(phase, jobs, scheduler, cache_dir, progress)
        counts = _add_confluence(counts, phase, conf)
    # set last: merging (above) gives a new table without them
    counts.attrs["measured"] = records.attrs["measured"]
    counts.attrs["reused"] = records.attrs["reused"]
    counts.attrs["phase_measured"] = conf.attrs["measured"] if conf is not None else 0
    counts.attrs["measure"] = "count"
    counts.attrs["sized"] = sized
    if sizes is not None:  # plain records: attrs are compared when tables are joined
        counts.attrs["sizes"] = sizes.to_dict("records")
        counts.attrs["plate_px"] = sizes.attrs.get("plate_px")
    return counts


def size_table(counts: pd.DataFrame) -> pd.DataFrame | None:
    """The per-well nucleus size table of a counts table made by :func:`count_folder`
    (``sizes.csv``), or None when it has none (a custom segmenter, phase frames, or a
    table read back from a file).

    Columns: ``well``, ``diameter_px`` (the size its frames were counted with), ``source``
    (``well``, ``plate``, ``given`` or ``none``), ``n_estimated``, ``n_agree``, ``spread``,
    ``uncertain`` and ``frames_flagged`` (frames with the QC flag ``size_disagrees``); see
    :func:`incugrowth.image.calibrate.well_sizes`.
    """
    records = counts.attrs.get("sizes")
    if records is None:
        return None
    table = pd.DataFrame.from_records(records)
    table.attrs["plate_px"] = counts.attrs.get("plate_px")
    return table


def _size_wells(nuclear, diameter, jobs, scheduler, cache_dir, progress):
    """The frames table with each frame's size (``diameter_px``, one per well) and own
    estimate (``frame_diameter_px``, NaN for frames not estimated), the per-well size
    table, the number of frames estimated now, and whether the counter's loops were
    prepared for workers.

    A sample of each well's frames (see
    :func:`~incugrowth.image.calibrate.sample_for_size`: all of a small well, about one in
    ten of a large one) is read and estimated first, and
    :func:`~incugrowth.image.calibrate.well_sizes` makes the well's size of them. The other
    frames are not estimated: one size per well saves the per-frame estimate, and the
    sample is the check (QC flag ``size_disagrees``). A given `diameter` is every well's
    size; the sample is still estimated, to flag the frames it does not fit.
    """
    from incugrowth.image.calibrate import sample_for_size, well_sizes

    nuclear = nuclear.copy()
    sample = nuclear.loc[sample_for_size(nuclear)]
    records = count_frames(
        sample,
        kind="size",
        jobs=jobs,
        scheduler=scheduler,
        cache_dir=cache_dir,
        progress=progress,
    )
    estimate = records.get("frame_diameter_px", pd.Series(np.nan, index=records.index))
    nuclear["frame_diameter_px"] = np.nan
    nuclear.loc[sample.index, "frame_diameter_px"] = estimate.to_numpy(float)
    sizes = well_sizes(nuclear.loc[sample.index, ["well", "frame_diameter_px"]], diameter=diameter)
    if diameter is None and cache_dir is not None:
        sizes = _keep_counted_sizes(sizes, nuclear, Path(cache_dir))
    nuclear["diameter_px"] = nuclear["well"].map(sizes.set_index("well")["diameter_px"])
    return nuclear, sizes, records.attrs["measured"], records.attrs["prepared"]


#: A well already counted (in the journal) keeps the size it was counted with while its
#: new size is within this factor of it: a growing acquisition (``watch``) adds frames to
#: each well's sample, which moves its median a little, and a change of a few percent is
#: not worth counting the well again.
KEEP_SIZE = 1.05


def _keep_counted_sizes(sizes: pd.DataFrame, nuclear: pd.DataFrame, cache_dir: Path):
    """`sizes` with each well's size replaced by the one most of its frames were counted
    with before (their records in the journal), where that is within :data:`KEEP_SIZE`."""
    journal = _Journal(cache_dir)
    well_of = dict(zip(nuclear["path"].astype(str), nuclear["well"], strict=True))
    before: dict = {}
    for (path, options), rec in journal.done.items():
        size = rec.get("diameter_px")
        if path in well_of and rec.get("kind") == "nuclei" and isinstance(size, float):
            if options == _options_key("nuclei", size, None):  # this version's record
                before.setdefault(well_of[path], []).append(size)
    sizes = sizes.copy()
    for i, row in sizes.iterrows():
        counted = before.get(row["well"])
        if not counted or not np.isfinite(row["diameter_px"]):
            continue
        old = pd.Series(counted).mode().iloc[0]
        if abs(np.log(old / row["diameter_px"])) <= np.log(KEEP_SIZE):
            sizes.loc[i, "diameter_px"] = old
    return sizes


def _with_known_sizes(records: pd.DataFrame, nuclear: pd.DataFrame) -> pd.DataFrame:
    """`records` with the frames' own size estimates (made before counting)."""
    known = nuclear.set_index("path")["frame_diameter_px"]
    return records.assign(frame_diameter_px=records["path"].map(known).to_numpy(float))


def _finish_sizes(sizes: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """The per-well size table with the frames flagged ``size_disagrees``, and a warning
    naming the wells whose counts rest on an uncertain size."""
    flagged = counts["qc_flag"].str.contains("size_disagrees", regex=False)
    sizes = sizes.copy()
    sizes["frames_flagged"] = (
        sizes["well"].map(flagged.groupby(counts["well"]).sum()).fillna(0).astype(int)
    )
    # a well with nothing to count (every frame empty, blank or unreadable) rests on no size
    nothing = counts["qc_flag"].str.contains("empty|blank|unreadable").groupby(counts["well"])
    sizes.loc[sizes["well"].map(nothing.all()).eq(True), "uncertain"] = False
    uncertain = sizes[sizes["uncertain"]]
    if len(uncertain):
        from incugrowth.kinetics import _short_list

        named = [f"{row.well} ({_why_uncertain(row)})" for row in uncertain.itertuples()]
        warnings.warn(
            f"{len(uncertain)} well(s) are counted with an uncertain nucleus size: "
            f"{_short_list(named, limit=6)}; look at their frames (the sizes per well are in "
            "sizes.csv, or beside the counts of `count` in <name>_sizes.csv) and give the "
            "nucleus diameter in pixels (--diameter) if the size is off",
            IncugrowthWarning,
            stacklevel=3,
        )
    return sizes


def _why_uncertain(row) -> str:
    """Why the size of a well (a row of the size table) is uncertain, in a few words."""
    if 3 * row.n_agree < 2 * row.n_estimated:
        return f"its frames disagree; the plate's {row.diameter_px:.1f} px used"
    if row.source == "plate":
        return f"too few frames, off the plate's {row.diameter_px:.1f} px used"
    if row.source == "none":
        return "no frame to estimate the size on"
    return f"its frames' sizes spread {100 * row.spread:.0f} %"


def _confluence_records(phase, jobs, scheduler, cache_dir, progress) -> pd.DataFrame:
    """The records of :func:`count_frames` measuring the phase confluence of `phase`, at
    the dish level of each well (:func:`incugrowth.dish.apply_dish_reference`)."""
    from incugrowth.dish import apply_dish_reference

    records = count_frames(
        phase,
        kind="confluence",
        jobs=jobs,
        scheduler=scheduler,
        cache_dir=cache_dir,
        progress=progress,
    )
    out = apply_dish_reference(phase, records, jobs)
    out.attrs.update(records.attrs)
    return out


#: Frames read to tell phase contrast from fluorescence when no channel is named.
PHASE_SAMPLE = 6


def _unnamed_phase(frames: pd.DataFrame, folder) -> bool:
    """Whether frames that name no channel (no channel folder, no channel word) are phase
    contrast: :func:`~incugrowth.image.looks_like_phase_contrast` of up to
    :data:`PHASE_SAMPLE` frames of the latest time (the most cells), one per well, says so
    for more than half of those that can be read. Says so in a warning when they are."""
    from incugrowth.frames import read_frame
    from incugrowth.image import looks_like_phase_contrast

    latest = frames.sort_values("elapsed_h", ascending=False, kind="stable")
    sample = latest.drop_duplicates("well").head(PHASE_SAMPLE)
    votes = []
    for path in sample["path"]:
        try:
            votes.append(looks_like_phase_contrast(read_frame(path)))
        except IncugrowthError:  # an unreadable frame is reported when it is measured
            continue
    if 2 * sum(votes) <= len(votes):  # most of the frames read must look like phase
        return False
    warnings.warn(
        f"{folder}: the frames name no channel (no red/ or phase/ folder, no channel word in "
        f"their names) and look like phase contrast ({sum(votes)} of {len(votes)} frames "
        "checked: cells darker and brighter than a grey background), so they are measured "
        "by confluence; if they are fluorescence frames, put them in a folder named red/",
        IncugrowthWarning,
        stacklevel=3,
    )
    return True


def _confluence_as_measure(phase, diameter, jobs, scheduler, cache_dir, progress):
    """The counts table when the frames to count are phase contrast (an export without a
    nuclear label, or the phase channel chosen): nuclei cannot be counted in phase
    contrast, so the growth measure in ``count`` is the phase confluence (percent), also in
    ``confluence``; ``attrs["measure"]`` is ``"confluence"``."""
    warnings.warn(
        "the frames to count are phase contrast: the growth measure is the phase confluence "
        "(%) of each frame, not a count of nuclei"
        + ("; the nucleus diameter given is not used" if diameter is not None else ""),
        IncugrowthWarning,
        stacklevel=3,
    )
    records = _confluence_records(phase, jobs, scheduler, cache_dir, progress)
    keys = ["well", "field", "elapsed_h"]
    skeleton = phase[keys].assign(qc_flag="")
    counts = _add_confluence(skeleton, phase, records)
    counts.insert(3, "count", counts["confluence"])
    counts = counts.sort_values(keys, key=_sort_key).reset_index(drop=True)
    counts.attrs["measured"] = records.attrs["measured"]
    counts.attrs["reused"] = records.attrs["reused"]
    counts.attrs["measure"] = "confluence"
    return counts


def _add_confluence(counts: pd.DataFrame, phase: pd.DataFrame, records: pd.DataFrame):
    """The ``confluence`` column from the phase frames' records, with their QC flags."""
    keys = ["well", "field", "elapsed_h"]
    rec = phase[["path", *keys]].merge(records, on="path", how="left")
    missing = pd.Series(np.nan, index=rec.index)
    unreadable = rec.get("error", missing).notna()
    blank = rec.get("blank", missing).fillna(False).astype(bool) & ~unreadable
    value = pd.to_numeric(rec.get("confluence", missing), errors="coerce")
    table = rec[keys].assign(
        confluence=value.where(~(unreadable | blank)),
        _phase_flag=np.where(unreadable, "phase_unreadable", np.where(blank, "phase_blank", "")),
    )
    out = counts.merge(table, on=keys, how="left")
    extra = out.pop("_phase_flag").fillna("")
    out["qc_flag"] = [";".join(f for f in pair if f) for pair in zip(out["qc_flag"], extra)]
    if unreadable.any():
        errors = rec.loc[unreadable, "error"].astype(str)
        warnings.warn(
            f"{len(errors)} phase frame(s) could not be read; their confluence is left empty "
            f"(QC flag 'phase_unreadable'); first: {errors.iloc[0]}",
            IncugrowthWarning,
            stacklevel=3,
        )
    if blank.any():
        _warn_blank(
            rec.loc[blank, "path"],
            "phase frame(s)",
            "their confluence is left empty",
            "phase_blank",
        )
    return out
