"""Batch counting: known counts, parallel == serial, resumable journal, Dask, broken frames."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import tifffile
from skimage.draw import disk

from incugrowth import batch
from incugrowth.cli import main
from incugrowth.errors import IncugrowthError, IncugrowthWarning

WELLS = ("B2", "B3", "C2")
TIMES = (0, 12, 24, 36)


def frame_with_nuclei(n, shape=(200, 240), seed=0, radius=6):
    """A 16-bit frame with ``n`` well-separated bright disks on a noisy background."""
    rng = np.random.default_rng(seed)
    img = rng.normal(400, 20, shape)
    placed = []
    while len(placed) < n:
        c = rng.uniform(radius * 2, np.array(shape) - radius * 2)
        if all(np.hypot(*(c - p)) > 4 * radius for p in placed):
            placed.append(c)
            rr, cc = disk(tuple(c), radius, shape=shape)
            img[rr, cc] += rng.uniform(1500, 3000)
    return np.clip(img, 0, 65535).astype(np.uint16)


def truth_count(w, t):
    return 3 + WELLS.index(w) + t // 12


def write_export(folder, times=TIMES, wells=WELLS, shape=(200, 240)):
    red = folder / "red"
    red.mkdir(parents=True, exist_ok=True)
    for w in wells:
        for t in times:
            img = frame_with_nuclei(truth_count(w, t), shape=shape, seed=hash((w, t)) % 1000)
            name = f"VID1_{w}_1_{t // 24:02d}d{t % 24:02d}h00m.tif"
            tifffile.imwrite(red / name, img, compression="zlib")
    return folder


def test_counts_are_right_and_parallel_equals_serial(tmp_path):
    folder = write_export(tmp_path / "frames")
    serial = batch.count_folder(folder, jobs=1)
    parallel = batch.count_folder(folder, jobs=2)
    cols = ["well", "field", "elapsed_h", "count", "qc_flag"]
    pd.testing.assert_frame_equal(serial[cols], parallel[cols])
    want = [truth_count(w, int(t)) for w, t in zip(serial["well"], serial["elapsed_h"])]
    assert serial["count"].tolist() == want


def test_the_counter_is_prepared_once_before_workers_start(tmp_path, monkeypatch):
    from incugrowth.image import measure

    calls = []
    original = measure.prepare
    monkeypatch.setattr(
        measure, "prepare", lambda kind="nuclei": calls.append(kind) or original(kind)
    )
    folder = write_export(tmp_path / "frames", times=(0,))
    batch.count_folder(folder, jobs=2)
    assert calls == ["nuclei"]  # once, in this process, before the pool
    batch.count_folder(folder, jobs=1)  # counted here anyway: nothing to prepare
    batch.count_folder(folder, jobs=2, cache_dir=tmp_path / "cache")
    batch.count_folder(folder, jobs=2, cache_dir=tmp_path / "cache")  # all in the journal
    assert calls == ["nuclei", "nuclei"]


def test_journal_resumes_and_rerun_counts_nothing(tmp_path):
    folder = write_export(tmp_path / "frames")
    cache = tmp_path / "cache"
    first = batch.count_folder(folder, jobs=1, cache_dir=cache)
    assert first.attrs["measured"] == len(WELLS) * len(TIMES)
    again = batch.count_folder(folder, jobs=1, cache_dir=cache)
    assert again.attrs["measured"] == 0
    pd.testing.assert_frame_equal(first, again)
    # A changed frame is counted again; a torn last journal line (a killed run) is ignored.
    changed = next((folder / "red").glob("*_B2_1_00d12h00m.tif"))
    tifffile.imwrite(changed, frame_with_nuclei(9, seed=5))
    with open(cache / batch.JOURNAL, "a") as fh:
        fh.write('{"path": "torn')
    third = batch.count_folder(folder, jobs=1, cache_dir=cache)
    # the changed frame is sized again; when it moves its well's size, the well's frames
    # are counted again with the new size, else only it
    assert third.attrs["sized"] == 1
    b2 = third["well"] == "B2"
    moved = third.loc[b2, "diameter_px"].iloc[0] != first.loc[b2, "diameter_px"].iloc[0]
    assert third.attrs["measured"] == (len(TIMES) if moved else 1)
    row = third[b2 & (third["elapsed_h"] == 12)]
    assert row["count"].item() == 9


def test_a_record_torn_by_a_kill_costs_that_frame_only(tmp_path):
    """A run killed while writing a record leaves half a line; the next run measures that
    frame again and its record, and every later one, is read back (none joins the torn line)."""
    folder = write_export(tmp_path / "frames", wells=("B2", "B3"), times=(0, 12))
    cache = tmp_path / "cache"
    first = batch.count_folder(folder, jobs=1, cache_dir=cache)
    journal = cache / batch.JOURNAL
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1][:40] + b"\n\xff[1]\n" + lines[-1][:30])
    second = batch.count_folder(folder, jobs=1, cache_dir=cache)
    assert second.attrs["measured"] == 1
    third = batch.count_folder(folder, jobs=1, cache_dir=cache)
    assert third.attrs["measured"] == 0
    pd.testing.assert_frame_equal(first, third)


def test_a_frame_rewritten_while_it_is_measured_is_measured_again(tmp_path, monkeypatch):
    """The journal keys a record by the file as it was read, not as it is afterwards."""
    from incugrowth import frames

    folder = write_export(tmp_path / "frames", wells=("B2",), times=(0, 12))
    cache = tmp_path / "cache"
    target = next((folder / "red").glob("*_B2_1_00d12h00m.tif"))
    read_frame = frames.read_frame
    reads = []

    def read_then_rewrite(path):
        image = read_frame(path)
        reads.append(os.fspath(path))
        # the export rewrites it while it is counted (its second read: the first one
        # estimated its size)
        if reads.count(str(target)) == 2:
            tifffile.imwrite(target, frame_with_nuclei(9, seed=5))
        return image

    monkeypatch.setattr(frames, "read_frame", read_then_rewrite)
    # the size given: the well's size from its frames could change with the rewritten one
    first = batch.count_folder(folder, jobs=1, cache_dir=cache, diameter=12.0)
    assert first["count"].tolist() == [3, 4]  # the frame as it was read
    monkeypatch.undo()
    again = batch.count_folder(folder, jobs=1, cache_dir=cache, diameter=12.0)
    assert again.attrs["measured"] == 1
    assert again["count"].tolist() == [3, 9]


def _gone(monkeypatch, target):
    """Make `target` look deleted to the batch counter (its file key cannot be taken)."""
    file_key = batch._file_key

    def key(path):
        if path == str(target):
            raise FileNotFoundError(2, "No such file or directory", path)
        return file_key(path)

    monkeypatch.setattr(batch, "_file_key", key)


def test_a_frame_gone_during_the_run_is_unreadable_and_not_kept(tmp_path, monkeypatch):
    folder = write_export(tmp_path / "frames", wells=("B2",), times=(0, 12))
    cache = tmp_path / "cache"
    target = next((folder / "red").glob("*_B2_1_00d12h00m.tif"))
    # the size given: with a frame gone the well's size rests on fewer frames and may move,
    # which would recount the others (not what these tests are about)
    _gone(monkeypatch, target)  # deleted between the listing and its measurement
    with pytest.warns(IncugrowthWarning, match="frame file not found"):
        counts = batch.count_folder(folder, jobs=1, cache_dir=cache, diameter=12.0)
    assert counts["qc_flag"].tolist() == ["", "unreadable"]
    assert not any(c.startswith("_") for c in counts.columns)
    lines = (cache / batch.JOURNAL).read_text().splitlines()
    kept = {json.loads(line)["path"] for line in lines}  # its size estimate and its count
    assert kept == {str(target).replace("00d12h", "00d00h")}  # the frame that was there only
    monkeypatch.undo()
    again = batch.count_folder(folder, jobs=1, cache_dir=cache, diameter=12.0)
    assert again.attrs["measured"] == 1 and again["count"].tolist() == [3, 4]


def test_a_counted_frame_gone_before_a_rerun_is_unreadable(tmp_path, monkeypatch):
    """A frame in the journal that is gone when a rerun looks it up is flagged unreadable;
    the rerun does not stop at it."""
    folder = write_export(tmp_path / "frames", wells=("B2",), times=(0, 12))
    cache = tmp_path / "cache"
    batch.count_folder(folder, jobs=1, cache_dir=cache, diameter=12.0)
    target = next((folder / "red").glob("*_B2_1_00d12h00m.tif"))
    _gone(monkeypatch, target)  # deleted between the listing and the journal's look-up
    with pytest.warns(IncugrowthWarning, match="frame file not found"):
        counts = batch.count_folder(folder, jobs=1, cache_dir=cache, diameter=12.0)
    assert counts["qc_flag"].tolist() == ["", "unreadable"]
    assert counts.attrs["reused"] == 1


def test_records_of_an_earlier_measurement_are_measured_again(tmp_path, monkeypatch):
    """A journal written before a measurement changed (its record version) is not served."""
    folder = write_export(tmp_path / "frames", wells=("B2",), times=(0, 12))
    cache = tmp_path / "cache"
    monkeypatch.setattr(batch, "_RECORD_VERSION", batch._RECORD_VERSION - 1)
    assert batch.count_folder(folder, jobs=1, cache_dir=cache).attrs["measured"] == 2
    monkeypatch.undo()
    assert batch.count_folder(folder, jobs=1, cache_dir=cache).attrs["measured"] == 2
    assert batch.count_folder(folder, jobs=1, cache_dir=cache).attrs["measured"] == 0


def test_other_counting_options_are_not_served_from_the_journal(tmp_path):
    folder = write_export(tmp_path / "frames", wells=("B2",), times=(0,))
    cache = tmp_path / "cache"
    batch.count_folder(folder, jobs=1, cache_dir=cache)
    other = batch.count_folder(folder, jobs=1, cache_dir=cache, diameter=12.0)
    assert other.attrs["measured"] == 1


def test_broken_and_odd_frames_are_flagged_not_fatal(tmp_path):
    folder = write_export(tmp_path / "frames", wells=("B2",))
    red = folder / "red"
    (red / "VID1_C5_1_00d00h00m.tif").write_bytes(b"")
    (red / "VID1_C6_1_00d00h00m.tif").write_bytes(b"\xff\xd8\xff\xe0JFIF not a tiff")
    tifffile.imwrite(red / "VID1_C7_1_00d00h00m.tif", frame_with_nuclei(4, shape=(120, 100)))
    with pytest.warns(IncugrowthWarning) as record:
        counts = batch.count_folder(folder, jobs=1)
    flags = counts.set_index("well")["qc_flag"]
    assert "unreadable" in flags["C5"] and "unreadable" in flags["C6"]
    assert np.isnan(counts.set_index("well").loc["C5", "count"])
    assert "odd_size" in flags["C7"]
    assert counts.set_index("well").loc["C7", "count"] == 4
    text = " ".join(str(w.message) for w in record)
    assert "could not be read" in text and "C5" in text or "VID1_C5" in text


def test_blank_frame_has_no_count_and_one_warning_naming_it(tmp_path):
    folder = write_export(tmp_path / "frames", wells=("B2",))
    red = folder / "red"
    blank = red / "VID1_B2_1_01d00h00m.tif"
    tifffile.imwrite(blank, np.zeros((200, 240), dtype=np.uint16))
    # no nuclei but a background: a valid count of 0
    rng = np.random.default_rng(3)
    background = rng.normal(100, 4, (200, 240)).astype(np.uint16)
    tifffile.imwrite(red / "VID1_B3_1_00d00h00m.tif", background)
    with pytest.warns(IncugrowthWarning) as record:
        counts = batch.count_folder(folder, jobs=1)
    row = counts[(counts["well"] == "B2") & (counts["elapsed_h"] == 24)].iloc[0]
    assert np.isnan(row["count"]) and row["qc_flag"] == "blank"
    empty = counts[counts["well"] == "B3"].iloc[0]
    assert empty["count"] == 0 and empty["qc_flag"] == "empty"
    others = counts[(counts["well"] == "B2") & (counts["elapsed_h"] != 24)]
    assert others["count"].tolist() == [truth_count("B2", int(t)) for t in others["elapsed_h"]]
    assert not others["qc_flag"].str.contains("blank").any()
    messages = [str(w.message) for w in record if "are blank" in str(w.message)]
    assert len(messages) == 1 and str(blank) in messages[0]


def test_daily_growth_of_the_sample_is_not_flagged_as_a_jump():
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "sample_data"
    counts = batch.count_folder(sample, jobs=1, confluence=False)
    assert len(counts) == 45 and set(np.diff(sorted(set(counts["elapsed_h"])))) == {24.0}
    assert not counts["qc_flag"].str.contains("count_jump").any()


def centre_segmenter(image):
    """A stand-in for Cellpose/StarDist: one label per bright pixel cluster above 1000."""
    from scipy import ndimage

    labels, _ = ndimage.label(image > 1000)
    return labels.astype(np.int32)


def test_custom_segmenter_is_used_in_worker_processes(tmp_path):
    folder = write_export(tmp_path / "frames", wells=("B2",), times=(0, 12))
    counts = batch.count_folder(folder, jobs=2, segmenter=centre_segmenter)
    assert counts["count"].tolist() == [3, 4]


def test_dask_local_cluster_matches_local_run(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    folder = write_export(tmp_path / "frames")
    local = batch.count_folder(folder, jobs=1)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = batch.count_folder(folder, scheduler=client)
        by_address = batch.count_folder(folder, scheduler=cluster.scheduler_address)
        # relative paths, with workers that stay in the folder they started in
        monkeypatch.chdir(tmp_path)
        relative = batch.count_folder("frames", scheduler=client)
    cols = ["well", "field", "elapsed_h", "count", "qc_flag"]
    pd.testing.assert_frame_equal(local[cols], on_dask[cols])
    pd.testing.assert_frame_equal(local[cols], by_address[cols])
    pd.testing.assert_frame_equal(local[cols], relative[cols])
    assert relative["path"].str.startswith("frames").all()  # the paths as given


def test_count_command_on_a_scheduler_address(tmp_path, capsys):
    """The command line makes its own client (not a default one): nothing may need one."""
    distributed = pytest.importorskip("distributed")
    folder = write_export(tmp_path / "frames", wells=("B2",), times=(0, 12))
    out = tmp_path / "counts.csv"
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        with pytest.raises(ValueError):
            distributed.default_client()  # as in a fresh `incugrowth count` process
        address = cluster.scheduler_address
        assert main(["count", str(folder), "-o", str(out), "--scheduler", address]) == 0
        with distributed.Client(address, set_as_default=False) as client:
            again = batch.count_folder(folder, scheduler=client)
    assert pd.read_csv(out)["count"].tolist() == [3, 4]
    assert again["count"].tolist() == [3, 4]
    assert "2 frames (2 counted now)" in capsys.readouterr().out


def test_a_frame_the_dask_workers_cannot_see_is_an_error_saying_so(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    folder = write_export(tmp_path / "frames", wells=("B2",), times=(0, 12))
    file_key = batch._file_key

    def not_on_the_worker(path):  # the worker (a thread here) sees another file system
        if "_B2_1_00d12h00m" in path:
            raise FileNotFoundError(2, "No such file or directory", path)
        return file_key(path)

    monkeypatch.setattr(batch, "_file_key", not_on_the_worker)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        with pytest.raises(IncugrowthError) as err:
            batch.count_folder(folder, scheduler=client)
    text = str(err.value)
    assert "_B2_1_00d12h00m.tif: the Dask worker on " in text
    assert "cannot see this frame" in text and "file system the workers share" in text
    assert "\n" not in text


def test_a_wrong_scheduler_address_is_an_error_naming_it(tmp_path):
    pytest.importorskip("distributed")
    folder = write_export(tmp_path / "frames", wells=("B2",), times=(0,))
    with pytest.raises(IncugrowthError, match=r"Dask scheduler at notanaddress: not an address"):
        batch.count_folder(folder, scheduler="notanaddress")


def _plate_map(path):
    rows = [
        {"well": w, "cell_line": "M407", "treatment": t}
        for w, t in zip(WELLS, ("untreated", "untreated", "IFN gamma"))
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_sigkill_during_counting_then_rerun_equals_uninterrupted(tmp_path):
    folder = write_export(tmp_path / "frames", times=tuple(range(0, 73, 4)), shape=(700, 700))
    plate = _plate_map(tmp_path / "plate.csv")
    out = tmp_path / "killed"
    args = [
        "run", "--frames", str(folder), "--plate-map", str(plate), "--jobs", "1",
        "--no-report", "--no-figures",
    ]  # fmt: skip
    cmd = [sys.executable, "-m", "incugrowth", *args, "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / ".cache" / batch.JOURNAL
    deadline = time.time() + 60
    while time.time() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = journal.read_text().count("\n")
    total = len(WELLS) * 10
    assert 3 <= done_before < total, "the kill must land during counting"
    assert not (out / "growth.csv").exists()
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    run = json.loads((out / "run.json").read_text())
    assert run["parameters"]["frames"] == str(folder)
    ref = tmp_path / "whole"
    assert main([*args, "-o", str(ref)]) == 0
    for name in ("counts", "growth", "curves", "endpoint"):
        a = pd.read_csv(out / f"{name}.csv")
        b = pd.read_csv(ref / f"{name}.csv")
        pd.testing.assert_frame_equal(a, b)
    assert list(out.rglob("*.tmp")) == []


_SLOW_COUNT = """
import sys, time
from incugrowth import batch

def slow(image):
    time.sleep(120)

if __name__ == "__main__":
    batch.count_folder(sys.argv[1], jobs=2, segmenter=slow)
"""


def _children(pid):
    """Live (not zombie) child processes of `pid`, from /proc."""
    out = []
    for stat in os.listdir("/proc"):
        try:
            with open(f"/proc/{stat}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError, ValueError):
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            out.append(int(stat))
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_worker_processes_end_when_the_counting_process_is_killed(tmp_path):
    folder = write_export(tmp_path / "frames", wells=("B2",), times=(0, 12))
    script = tmp_path / "slow_count.py"
    script.write_text(_SLOW_COUNT)
    proc = subprocess.Popen([sys.executable, str(script), str(folder)])
    workers = []
    try:
        deadline = time.time() + 60
        while len(workers) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
            workers = _children(proc.pid)
        assert len(workers) == 2, "the pool's two workers should be counting"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 20
        while any(map(_alive, workers)) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(map(_alive, workers)), "workers left running after their parent died"
    finally:
        proc.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


class _FullDisk:
    """A file on a full disk: nothing can be written."""

    def tell(self):
        return 0

    def write(self, data):
        raise OSError(28, "No space left on device")

    def close(self):
        pass


def test_a_full_disk_is_a_one_line_error_naming_the_file(tmp_path, capsys, monkeypatch):
    import builtins

    folder = write_export(tmp_path / "frames", wells=("B2",), times=(0, 12))
    out = tmp_path / "counts.csv"
    journal = tmp_path / ".counts.csv.cache" / batch.JOURNAL

    def open_on_full_disk(path, mode="r", **kwargs):
        return _FullDisk() if "a" in mode else builtins.open(path, mode, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(batch, "open", open_on_full_disk, raising=False)
        assert main(["count", str(folder), "-o", str(out), "--jobs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"incugrowth: error: {journal}: No space left on device"

    def to_csv_on_full_disk(self, path, **kwargs):
        with open(path, "w") as fh:
            fh.write("well,")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv_on_full_disk)
    assert main(["count", str(folder), "-o", str(out), "--jobs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"incugrowth: error: {out}: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".counts.csv.cache", "frames"]


def test_a_negative_number_of_jobs_is_a_one_line_error(tmp_path, capsys):
    folder = write_export(tmp_path / "frames", wells=("B2",), times=(0,))
    out = tmp_path / "counts.csv"
    assert main(["count", str(folder), "-o", str(out), "--jobs", "-1"]) == 2
    assert "--jobs" in capsys.readouterr().err
    with pytest.raises(IncugrowthError, match="--jobs takes a number of processes"):
        batch.count_folder(folder, jobs=-2)  # as `run --jobs -2` and run-many's files give it
    assert not out.exists()


def test_count_command_writes_one_row_per_frame_and_reuses_the_journal(tmp_path, capsys):
    folder = write_export(tmp_path / "frames", wells=("B2", "B3"), times=(0, 12))
    out = tmp_path / "counts.csv"
    assert main(["count", str(folder), "-o", str(out), "--jobs", "1"]) == 0
    counts = pd.read_csv(out)
    assert len(counts) == 4
    assert counts["count"].tolist() == [truth_count(w, int(t)) for w, t in
                                        zip(counts["well"], counts["elapsed_h"])]  # fmt: skip
    assert "4 counted now" in capsys.readouterr().out
    assert main(["count", str(folder), "-o", str(out), "--jobs", "1"]) == 0
    assert "0 counted now" in capsys.readouterr().out


def write_phase(folder, times=TIMES, wells=WELLS, shape=(200, 240)):
    """Phase frames (textured left part, flat right part) beside the red ones."""
    phase = folder / "phase"
    phase.mkdir(parents=True, exist_ok=True)
    for w in wells:
        for t in times:
            rng = np.random.default_rng(hash((w, t, "phase")) % 1000)
            img = rng.normal(120, 2, shape)
            img[:, : shape[1] // 2] += rng.normal(0, 25, (shape[0], shape[1] // 2))
            name = f"VID1_{w}_1_{t // 24:02d}d{t % 24:02d}h00m.tif"
            tifffile.imwrite(phase / name, np.clip(img, 0, 255).astype(np.uint8))
    return folder


def test_count_command_with_phase_frames_says_how_many_were_counted_now(tmp_path, capsys):
    folder = write_phase(write_export(tmp_path / "frames", wells=("B2", "B3"), times=(0, 12)),
                         wells=("B2", "B3"), times=(0, 12))  # fmt: skip
    out = tmp_path / "counts.csv"
    assert main(["count", str(folder), "-o", str(out), "--jobs", "1"]) == 0
    assert "4 frames (4 counted now, 4 phase frames measured now)" in capsys.readouterr().out
    assert pd.read_csv(out)["confluence"].between(20, 80).all()
    assert main(["count", str(folder), "-o", str(out), "--jobs", "1"]) == 0
    assert "4 frames (0 counted now)" in capsys.readouterr().out
    tifffile.imwrite(next((folder / "red").glob("*_B3_1_00d12h00m.tif")), frame_with_nuclei(7))
    assert main(["count", str(folder), "-o", str(out), "--jobs", "1"]) == 0
    assert "4 frames (1 counted now)" in capsys.readouterr().out
    counts = batch.count_folder(folder, jobs=1, cache_dir=tmp_path / ".counts.csv.cache")
    assert (counts.attrs["measured"], counts.attrs["reused"]) == (0, 4)


def test_unreadable_and_blank_phase_frames_are_flagged_and_named(tmp_path):
    folder = write_phase(write_export(tmp_path / "frames", wells=("B2",)), wells=("B2",))
    broken = folder / "phase" / "VID1_B2_1_00d12h00m.tif"
    broken.write_bytes(b"\xff\xd8\xff\xe0JFIF not a tiff")
    blank = folder / "phase" / "VID1_B2_1_01d00h00m.tif"
    tifffile.imwrite(blank, np.zeros((200, 240), dtype=np.uint8))
    with pytest.warns(IncugrowthWarning) as record:
        counts = batch.count_folder(folder, jobs=1)
    rows = counts.set_index("elapsed_h")
    assert rows.loc[12, "qc_flag"] == "phase_unreadable" and np.isnan(rows.loc[12, "confluence"])
    assert rows.loc[24, "qc_flag"] == "phase_blank" and np.isnan(rows.loc[24, "confluence"])
    assert rows.loc[[0, 36], "confluence"].notna().all()
    assert (rows.loc[[0, 36], "qc_flag"] == "").all()
    # the nuclear counts of those rows are unaffected
    assert rows["count"].tolist() == [truth_count("B2", t) for t in TIMES]
    text = [str(w.message) for w in record]
    unread = [m for m in text if "could not be read" in m]
    assert len(unread) == 1 and "phase" in unread[0] and str(broken) in unread[0]
    blanks = [m for m in text if "are blank" in m]
    assert len(blanks) == 1 and str(blank) in blanks[0]


def test_opencv_threads_are_stopped_while_workers_are_forked():
    import cv2

    from incugrowth.batch import single_threaded_opencv

    cv2.setNumThreads(2)
    with single_threaded_opencv():
        assert cv2.getNumThreads() == 1
    assert cv2.getNumThreads() == 2
    with pytest.raises(RuntimeError), single_threaded_opencv():
        raise RuntimeError("restored on error too")
    assert cv2.getNumThreads() == 2
    cv2.setNumThreads(-1)


def test_nested_and_concurrent_opencv_stops_restore_once():
    import threading

    import cv2

    from incugrowth.batch import single_threaded_opencv

    cv2.setNumThreads(2)
    inside = threading.Event()
    release = threading.Event()

    def other_batch():
        with single_threaded_opencv():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other_batch)
    thread.start()
    inside.wait(10)
    with single_threaded_opencv():
        assert cv2.getNumThreads() == 1
    assert cv2.getNumThreads() == 1  # the other batch is still forking workers
    release.set()
    thread.join(10)
    assert cv2.getNumThreads() == 2
    cv2.setNumThreads(-1)


_FAULTS = """
import resource, sys
import numpy as np
from incugrowth.batch import reuse_freed_memory

applied = reuse_freed_memory() if sys.argv[1] == "on" else None


def frame_like():  # a few frame-size temporaries alive at once, as in counting a frame
    arrays = [np.full((1040, 1408), k, np.float32) for k in range(6)]
    return sum(float(a[0, 0]) for a in arrays)


frame_like()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    frame_like()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults, applied)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_reused_memory_spares_the_page_faults_of_each_frame():
    runs = {}
    for setting in ("off", "on"):
        out = subprocess.run(
            [sys.executable, "-c", _FAULTS, setting], capture_output=True, text=True, check=True
        )
        faults, applied = out.stdout.split()
        runs[setting] = int(faults)
    assert applied == "True"
    # 10 rounds of 6 arrays of 5.9 MB: by default most are mapped afresh (here about
    # 34 000 faults); kept, the same memory serves every round
    assert runs["on"] < 100
    assert runs["off"] >= runs["on"]


def test_frames_that_name_no_channel_are_told_apart_by_their_look(tmp_path):
    """An export of one channel in a flat folder (no red/ or phase/ folder, no channel word):
    fluorescence frames are counted; phase-contrast frames (simulated cells darker and
    brighter than a grey dish) are measured by confluence, with a warning that says why and
    how to have them counted instead."""
    from incugrowth.simulate import simulate_experiment

    sim = tmp_path / "sim"
    simulate_experiment(
        sim, frame_shape=(160, 200), times=[0, 48], wells=["A1", "A2"], jobs=1, progress=False
    )
    flat = tmp_path / "flat_phase"
    (sim / "frames" / "phase").rename(flat)
    with pytest.warns(IncugrowthWarning) as record:
        counts = batch.count_folder(flat, jobs=1)
    said = [str(w.message) for w in record if "name no channel" in str(w.message)]
    assert len(said) == 1 and "look like phase contrast (2 of 2 frames" in said[0]
    assert "folder named red/" in said[0] and str(flat) in said[0]
    assert counts.attrs["measure"] == "confluence" and len(counts) == 4
    assert counts["count"].equals(counts["confluence"]) and counts["count"].between(1, 99).all()

    fluorescence = write_export(tmp_path / "export") / "red"
    with warnings.catch_warnings():
        warnings.simplefilter("error", IncugrowthWarning)
        counts = batch.count_folder(fluorescence.rename(tmp_path / "flat_red"), jobs=1)
    assert counts.attrs["measure"] == "count"
    assert counts["count"].tolist() == [truth_count(w, int(t)) for w, t in
                                        zip(counts["well"], counts["elapsed_h"])]  # fmt: skip


def test_a_cold_compile_cache_is_said_once(tmp_path, monkeypatch, capsys):
    """The first count of a new installation compiles the counter (about 25 s): one line
    says so, once a process, and nothing is said when the compiled loops are cached."""
    from incugrowth.image import measure

    folder = write_export(tmp_path / "frames", times=(0,), wells=("B2",))
    monkeypatch.setattr(batch, "_SAID_COMPILING", False)
    monkeypatch.setattr(measure, "compiled_loops_cached", lambda: True)
    batch.count_folder(folder, jobs=1)
    assert "compiling" not in capsys.readouterr().err
    monkeypatch.setattr(measure, "compiled_loops_cached", lambda: False)
    batch.count_folder(folder, jobs=1)
    batch.count_folder(folder, jobs=1)
    lines = [line for line in capsys.readouterr().err.splitlines() if "compiling" in line]
    assert lines == [
        "incugrowth: compiling the counter for this installation (once, about 25 s; later "
        "runs load it from the cache)"
    ]


def test_the_compile_cache_is_seen_warm_then_stale(monkeypatch):
    from numba.core.registry import CPUDispatcher

    from incugrowth.image import _kernels, measure

    measure.prepare()  # compiled (or loaded) and cached now
    assert measure.compiled_loops_cached() is True
    loops = [v for v in vars(_kernels).values() if isinstance(v, CPUDispatcher)]
    loop = next(v for v in loops if os.path.exists(v._cache._cache_file._index_path))
    # an index made from another version of the source loads as empty
    monkeypatch.setattr(loop._cache._cache_file, "_load_index", lambda: {})
    assert measure.compiled_loops_cached() is False
