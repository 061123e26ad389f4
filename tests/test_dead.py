"""Dead-cell channel: dead fraction, its statistics and the cytostatic/cytotoxic verdict.

Known answers: a control with exactly 5 % dead cells, a cytostatic treatment (growth stopped,
no extra death) and a cytotoxic one (95 % dead by 72 h), through `run` on two exports and on
simulated frames; the simulated plates' verdicts against their truth.
"""

import json

import numpy as np
import pandas as pd
import pytest

from incugrowth import dead
from incugrowth.cli import main
from incugrowth.errors import IncugrowthError
from incugrowth.simulate import Design, simulate_experiment
from incugrowth.simulate.kinetics import DEAD_METRIC, simulate_counts, true_effects
from incugrowth.simulate.writers import write_export

GREEN = "Green Object Count (Per Image)"
TIMES = (0.0, 24.0, 48.0, 72.0)
# Live and dead count per treatment at TIMES (before each well's factors).
KNOWN = {
    # 5 % dead at every time: 1900 live, 100 dead, doubling every day
    "untreated": ([1900, 3800, 7600, 15200], [100, 200, 400, 800]),
    # growth stopped, the same 5 % dead
    "stat": ([1900, 1900, 1900, 1900], [100, 100, 100, 100]),
    # killed: 95 % dead at 72 h
    "tox": ([1900, 1000, 400, 100], [100, 1000, 1600, 1900]),
}
SEEDING = (1.0, 1.2, 0.8)  # a well's factor on every count: the dead fraction stays the same
WIGGLE = (1.0, 1.06, 0.94)  # a well's factor on its counts after time 0: the same fraction


def _known_plate(folder, *, drop_dead_well=None, dead_times=TIMES):
    """Two cell lines x three treatments x three wells, written as a red and a green export."""
    rows, plate = [], []
    col = 2
    for line, row in (("A", "B"), ("B", "C")):
        col = 2
        for treatment, (live, dying) in KNOWN.items():
            for rep in range(3):
                well = f"{row}{col}"
                col += 1
                plate.append((well, line, treatment))
                for k, t in enumerate(TIMES):
                    f = SEEDING[rep] * (WIGGLE[rep] if k else 1.0)
                    rows.append((well, 1, t, round(live[k] * f), round(dying[k] * f)))
    counts = pd.DataFrame(rows, columns=["well", "field", "elapsed_h", "live", "dead"])
    red = write_export(counts.rename(columns={"live": "count"}), folder / "red.txt")
    green = counts[counts["elapsed_h"].isin(dead_times) & (counts["well"] != drop_dead_well)]
    green = write_export(
        green.drop(columns="live").rename(columns={"dead": "count"}),
        folder / "green.txt",
        metric=GREEN,
    )
    plate_map = folder / "plate.csv"
    pd.DataFrame(plate, columns=["well", "cell_line", "treatment"]).to_csv(plate_map, index=False)
    return red, green, plate_map


def _run(args, capsys=None):
    status = main(["run", *map(str, args), "--no-report", "--no-figures"])
    return status


@pytest.fixture(scope="module")
def known_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("known")
    red, green, plate_map = _known_plate(folder)
    out = folder / "out"
    args = ["--export", red, green, "--plate-map", plate_map, "-o", out, "--dead-metric", GREEN]
    assert _run(args) == 0
    plain = folder / "plain"
    assert _run(["--export", red, "--plate-map", plate_map, "-o", plain]) == 0
    return out, plain


def test_dead_fraction_of_known_counts(known_run):
    out, _ = known_run
    table = pd.read_csv(out / "dead.csv")
    assert list(table.columns[:5]) == ["well", "elapsed_h", "live", "dead", "pct_dead"]
    assert {"cell_line", "treatment"} <= set(table.columns)
    at72 = table[table["elapsed_h"] == 72].groupby("treatment")["pct_dead"]
    assert at72.min()["untreated"] == pytest.approx(5.0, abs=0.05)
    assert at72.max()["untreated"] == pytest.approx(5.0, abs=0.05)
    assert at72.mean()["stat"] == pytest.approx(5.0, abs=0.05)
    assert at72.mean()["tox"] > 90
    b2 = table[(table["well"] == "B2") & (table["elapsed_h"] == 72)].iloc[0]
    assert (b2["live"], b2["dead"], b2["pct_dead"]) == (15200, 800, 5.0)
    curves = pd.read_csv(out / "dead_curves.csv")
    assert list(curves.columns) == list(pd.read_csv(out / "curves.csv").columns)
    row = curves[(curves["cell_line"] == "A") & (curves["treatment"] == "tox")]
    row = row[row["elapsed_h"] == 72].iloc[0]
    assert (
        row["n_wells"] == 3
        and row["mean"] > 90
        and row["sem"] == pytest.approx(row["sd"] / np.sqrt(3))
    )


def test_dead_statistics_and_verdicts_of_known_counts(known_run):
    out, _ = known_run
    for name in ("anova", "dunnett"):
        assert list(pd.read_csv(out / f"{name}_dead.csv").columns) == list(
            pd.read_csv(out / f"{name}.csv").columns
        )
    d = pd.read_csv(out / "dunnett_dead.csv", keep_default_na=False).set_index(
        ["cell_line", "treatment"]
    )
    assert d.loc[("A", "tox"), "stars"] == "***" and d.loc[("A", "tox"), "mean_diff"] > 85
    assert d.loc[("A", "stat"), "stars"] == "NS"
    effects = pd.read_csv(out / "effects.csv", keep_default_na=False)
    assert list(effects.columns[:6]) == [
        "cell_line",
        "treatment",
        "dose",
        "control",
        "verdict",
        "gr",
    ]
    verdicts = effects.set_index(["cell_line", "treatment"])["verdict"].to_dict()
    assert verdicts == {
        ("A", "stat"): "cytostatic",
        ("A", "tox"): "cytotoxic",
        ("B", "stat"): "cytostatic",
        ("B", "tox"): "cytotoxic",
    }
    gr = effects.set_index(["cell_line", "treatment"])["gr"].astype(float)
    assert gr["A", "tox"] < 0 < gr["A", "stat"] + 0.05  # net killing; stasis is GR 0
    assert gr["A", "stat"] == pytest.approx(0.0, abs=0.05)
    doc = json.loads((out / "run.json").read_text())
    assert doc["parameters"]["dead_metric"] == GREEN
    rule = {"alpha": 0.05, "min_wells": 2, "net_loss_gr": -0.1}
    assert doc["parameters"]["dead_verdict"] == rule
    assert "effects.csv" in doc["outputs"] and "dead.csv" in doc["outputs"]


def test_a_run_without_dead_input_is_unchanged(known_run):
    out, plain = known_run
    for name in ("counts", "growth", "curves", "endpoint", "anova", "dunnett", "gr"):
        assert (out / f"{name}.csv").read_bytes() == (plain / f"{name}.csv").read_bytes(), name
    for name in ("dead", "dead_curves", "anova_dead", "dunnett_dead", "effects"):
        assert not (plain / f"{name}.csv").exists()
    params = json.loads((plain / "run.json").read_text())["parameters"]
    assert "dead_metric" not in params and "dead_channel" not in params


def test_a_rerun_without_dead_input_removes_the_dead_tables(known_run, tmp_path):
    out, _ = known_run
    red, green, plate_map = _known_plate(tmp_path)
    args = ["--export", red, green, "--plate-map", plate_map, "-o", tmp_path / "o"]
    assert _run([*args, "--dead-metric", GREEN]) == 0
    assert (tmp_path / "o" / "effects.csv").exists()
    args = ["--export", red, "--plate-map", plate_map, "-o", tmp_path / "o"]
    assert _run(args) == 0
    assert not (tmp_path / "o" / "effects.csv").exists()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"drop_dead_well": "C4"}, "wells only in the nuclear count: C4"),
        ({"dead_times": TIMES[:3]}, "times only in the nuclear count: 72 h"),
    ],
)
def test_dead_export_that_does_not_match_names_both_files(tmp_path, capsys, kwargs, expected):
    red, green, plate_map = _known_plate(tmp_path, **kwargs)
    args = ["--export", red, green, "--plate-map", plate_map, "-o", tmp_path / "o"]
    assert _run([*args, "--dead-metric", GREEN]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"incugrowth: error: {green.name}:") or str(green) in err
    assert "red.txt" in err and expected in err


def test_run_says_the_verdicts(tmp_path, capsys):
    red, green, plate_map = _known_plate(tmp_path)
    args = ["--export", red, green, "--plate-map", plate_map, "-o", tmp_path / "o"]
    assert _run([*args, "--dead-metric", GREEN]) == 0
    assert "verdicts (effects.csv): 2 cytotoxic, 2 cytostatic" in capsys.readouterr().out


def test_dead_metric_not_in_export_names_the_metrics(tmp_path, capsys):
    red, green, plate_map = _known_plate(tmp_path)
    args = ["--export", red, green, "--plate-map", plate_map, "-o", tmp_path / "o"]
    assert _run([*args, "--dead-metric", "Green Object Count (1/Image)"]) == 2
    err = capsys.readouterr().err
    assert "'Green Object Count (1/Image)' is not in the export" in err
    assert "'Red Object Count (Per Image)'" in err and f"'{GREEN}'" in err


def test_dead_input_of_the_other_kind_is_an_error(tmp_path, capsys):
    red, green, plate_map = _known_plate(tmp_path)
    args = ["--plate-map", plate_map, "-o", tmp_path / "o"]
    assert _run(["--export", red, green, *args, "--dead-channel", "green"]) == 2
    assert "--dead-metric" in capsys.readouterr().err
    assert _run(["--frames", tmp_path, *args, "--dead-metric", GREEN]) == 2
    assert "--dead-channel" in capsys.readouterr().err


def test_experiment_file_from_a_dead_run_reruns_it(known_run, tmp_path):
    from incugrowth.config import config_from_run, load_config

    out, _ = known_run
    cfg = load_config(config_from_run(out, tmp_path / "exp.toml"))
    assert cfg["dead_metric"] == GREEN and len(cfg["exports"]) == 2
    assert "dead_verdict" not in cfg  # recorded in run.json, not an option


def test_experiment_file_holds_the_dead_input(tmp_path):
    from incugrowth.config import load_config

    path = tmp_path / "exp.toml"
    path.write_text(f'exports = ["red.txt", "green.txt"]\ndead_metric = "{GREEN}"\n')
    assert load_config(path)["dead_metric"] == GREEN
    path.write_text('frames = "frames"\ndead_channel = "green"\n')
    assert load_config(path)["dead_channel"] == "green"


# --------------------------------------------------------------------------------------
# The verdict rule, branch by branch
# --------------------------------------------------------------------------------------

_BASE = dict(n_treatment=3, n_control=3, gr=0.5)


@pytest.mark.parametrize(
    ("kwargs", "word", "why"),
    [
        (dict(growth_diff=-300, growth_p=1e-4, dead_diff=60, dead_p=1e-6), "cytotoxic", "dead"),
        # more death without less growth is still killing
        (dict(growth_diff=-10, growth_p=0.7, dead_diff=20, dead_p=0.01), "cytotoxic", "dead"),
        (dict(growth_diff=-300, growth_p=1e-4, dead_diff=1, dead_p=0.6), "cytostatic", "growth"),
        # fewer dead than the control does not make a growth inhibitor cytotoxic
        (dict(growth_diff=-300, growth_p=1e-4, dead_diff=-3, dead_p=0.01), "cytostatic", "growth"),
        (dict(growth_diff=-20, growth_p=0.3, dead_diff=1, dead_p=0.6), "no effect", "neither"),
        (dict(growth_diff=-20, growth_p=0.3, dead_diff=-3, dead_p=0.01), "no effect", "neither"),
        # P exactly 0.05 is not significant
        (dict(growth_diff=-200, growth_p=0.05, dead_diff=5, dead_p=0.05), "no effect", "neither"),
        (dict(growth_diff=150, growth_p=1e-3, dead_diff=30, dead_p=1e-3), "unclear", "above"),
        (dict(growth_diff=150, growth_p=1e-3, dead_diff=0, dead_p=0.9), "unclear", "above"),
        (dict(growth_diff=-300, growth_p=1e-4), "unclear", "no comparison of the dead"),
        (dict(dead_diff=60, dead_p=1e-6), "unclear", "no comparison of growth"),
    ],
)
def test_verdict_branches(kwargs, word, why):
    got, reason = dead.verdict(**{**_BASE, **kwargs})
    assert got == word and why in reason
    assert got in dead.VERDICTS


def test_verdict_needs_enough_wells_and_flags_net_loss_without_dead_cells():
    strong = dict(growth_diff=-300, growth_p=1e-4, dead_diff=60, dead_p=1e-6, gr=-0.5)
    assert dead.verdict(**strong, n_treatment=1, n_control=3)[0] == "unclear"
    assert dead.verdict(**strong, n_treatment=3, n_control=np.nan)[0] == "unclear"
    assert dead.verdict(**strong, n_treatment=2, n_control=2)[0] == "cytotoxic"
    lost = dict(
        growth_diff=-300, growth_p=1e-4, dead_diff=1, dead_p=0.6, n_treatment=3, n_control=3
    )
    word, reason = dead.verdict(**lost, gr=-0.4)
    assert word == "unclear" and "GR -0.40" in reason
    assert dead.verdict(**lost, gr=-0.05)[0] == "cytostatic"  # stasis within noise of GR 0
    assert dead.verdict(**lost, gr=np.nan)[0] == "cytostatic"


def test_effects_table_marks_missing_dead_comparisons_unclear():
    growth = pd.DataFrame(
        {"cell_line": ["A", "B"], "treatment": "drug", "control": "untreated",
         "mean_diff": -300.0, "p_adj": 1e-4, "stars": "***"}
    )  # fmt: skip
    dunnett_dead = pd.DataFrame(
        {"cell_line": ["A"], "treatment": "drug", "control": "untreated", "mean_diff": 0.2,
         "p_adj": 0.9, "stars": "NS", "mean_treatment": 5.2, "mean_control": 5.0,
         "n_treatment": 3, "n_control": 3}
    )  # fmt: skip
    gr = pd.DataFrame({"cell_line": ["A", "B"], "treatment": "drug", "gr": [0.1, 0.2]})
    table = dead.effects_table(growth, dunnett_dead, gr=gr)
    assert table["verdict"].tolist() == ["cytostatic", "unclear"]
    assert table["gr"].tolist() == [0.1, 0.2]
    assert list(table.columns) == dead.EFFECT_COLUMNS
    assert dead.effects_table(growth, None)["verdict"].tolist() == ["unclear", "unclear"]


def test_dead_fraction_of_no_cells_is_missing():
    growth = pd.DataFrame({"well": ["B2"], "elapsed_h": [0.0], "count": [0.0], "qc_flag": ""})
    counts = pd.DataFrame({"well": ["B2"], "field": [1.0], "elapsed_h": [0.0], "count": [0.0]})
    assert dead.dead_table(growth, counts)["pct_dead"].isna().all()


# --------------------------------------------------------------------------------------
# Simulated plates: frames and exports against their truth
# --------------------------------------------------------------------------------------


def _small_design() -> Design:
    """One cell line: untreated, a cytostatic and a cytotoxic treatment, three wells each."""
    wells = []
    for i, (treatment, effect, kill) in enumerate(
        [("untreated", 0.0, 0.0), ("stat", 0.8, 0.0), ("tox", 1.6, 0.06)]
    ):
        for rep in range(3):
            wells.append(
                {"well": f"B{2 + 3 * i + rep}", "cell_line": "M407", "treatment": treatment,
                 "seeding": 1500.0, "capacity": 6000.0, "rate_per_h": 0.031, "effect": effect,
                 "kill_rate_per_h": kill}
            )  # fmt: skip
    return Design("dead3", pd.DataFrame(wells))


def test_run_on_simulated_frames_with_a_dead_channel(tmp_path):
    simulate_experiment(
        tmp_path / "sim",
        design=_small_design(),
        times=TIMES,
        crop=(256, 256),
        dead_frames=True,
        jobs=1,
        progress=False,
    )
    assert len(list((tmp_path / "sim" / "frames" / "green").glob("*.tif"))) == 36
    out = tmp_path / "out"
    frames, plate_map = tmp_path / "sim" / "frames", tmp_path / "sim" / "plate_map.csv"
    args = ["--frames", frames, "--plate-map", plate_map, "-o", out, "--jobs", "1"]
    assert _run([*args, "--dead-channel", "green"]) == 0
    truth = pd.read_csv(tmp_path / "sim" / "truth_counts.csv")
    truth = truth[["well", "elapsed_h", "dead_in_frame"]]
    table = pd.read_csv(out / "dead.csv").merge(truth, on=["well", "elapsed_h"])
    # the dead count of each frame within 2 of the true dead nuclei in the frame, or 10 %
    miss = (table["dead"] - table["dead_in_frame"]).abs()
    assert (miss <= np.maximum(2, 0.1 * table["dead_in_frame"])).all()
    at72 = table[table["elapsed_h"] == 72].groupby("treatment")["pct_dead"].mean()
    assert 1 <= at72["untreated"] <= 10 and at72["stat"] <= 10 and at72["tox"] > 60
    verdicts = pd.read_csv(out / "effects.csv").set_index("treatment")["verdict"]
    assert verdicts.to_dict() == {"stat": "cytostatic", "tox": "cytotoxic"}
    # each well's dead-cell frames are counted with the well's nucleus size (the journal
    # of the run holds them: nothing is counted again)
    nuclear, dying = dead.count_dead_frames(frames, "green", jobs=1, cache_dir=out / ".cache")
    assert dying.attrs["measured"] == 0
    size = nuclear.groupby("well")["diameter_px"].median()
    assert (dying["diameter_px"] == dying["well"].map(size)).all()
    # the nuclear count is the same with the dead channel beside it
    assert _run([*args[:4], "-o", tmp_path / "plain", "--jobs", "1"]) == 0
    assert (out / "counts.csv").read_bytes() == (tmp_path / "plain" / "counts.csv").read_bytes()


@pytest.mark.parametrize("design", ["fig4", "doses"])
def test_simulated_plate_verdicts_match_the_truth(tmp_path, design):
    simulate_experiment(
        tmp_path, design=design, times=range(0, 73, 12), render_frames=False, progress=False
    )
    out = tmp_path / "out"
    exports = [tmp_path / "export_red_count.txt", tmp_path / "export_green_count.txt"]
    args = ["--export", *exports, "--plate-map", tmp_path / "plate_map.csv", "-o", out]
    assert _run([*args, "--dead-metric", DEAD_METRIC]) == 0
    truth = pd.read_csv(tmp_path / "truth_effects.csv", keep_default_na=False)
    truth = truth[truth["verdict"] != ""]
    found = pd.read_csv(out / "effects.csv", keep_default_na=False)
    keys = ["cell_line", "treatment"] if design == "fig4" else ["cell_line", "dose"]
    if design == "doses":
        found["dose"] = found["dose"].astype(float)
    merged = truth.merge(found, on=keys, suffixes=("_true", ""))
    assert len(merged) == len(truth)
    wrong = merged[merged["verdict"] != merged["verdict_true"]]
    assert wrong.empty, wrong[[*keys, "verdict", "verdict_true", "reason"]].to_string()
    assert {"cytotoxic", "cytostatic", "no effect"} <= set(truth["verdict"]) or design == "doses"


def test_simulator_dead_channel_leaves_the_live_counts_as_they_were():
    d = _small_design()
    without = Design("dead3", d.wells.assign(kill_rate_per_h=0.0, background_dead=0.0))
    a = simulate_counts(d, seed=3, times=TIMES)
    b = simulate_counts(without, seed=3, times=TIMES)
    assert (a["count"] == b["count"]).all()
    assert (b["dead"] == 0).all()
    end = a[a["elapsed_h"] == 72].groupby("treatment")[["count", "dead"]].sum()
    pct = 100 * end["dead"] / (end["count"] + end["dead"])
    assert pct["untreated"] == pytest.approx(5, abs=1.5) and pct["tox"] > 80
    truth = true_effects(d).set_index("treatment")["verdict"]
    assert truth.to_dict() == {"stat": "cytostatic", "tox": "cytotoxic"}


def test_dead_frames_leave_the_other_channels_byte_for_byte(tmp_path):
    kwargs = dict(frame_shape=(96, 128), times=[0, 72], wells=["E4"], jobs=1, progress=False)
    simulate_experiment(tmp_path / "a", **kwargs)
    simulate_experiment(tmp_path / "b", dead_frames=True, **kwargs)
    assert not (tmp_path / "a" / "frames" / "green").exists()
    frame = "sim_fig4_E4_1_03d00h00m.tif"
    for name in [f"frames/red/{frame}", f"frames/phase/{frame}", "export_red_count.txt",
                 "export_green_count.txt", "truth.csv"]:  # fmt: skip
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "b" / "frames/green/sim_fig4_E4_1_03d00h00m.tif").exists()


def test_design_rejects_bad_death_parameters():
    wells = _small_design().wells.assign(background_dead=1.0)
    with pytest.raises(IncugrowthError, match="background_dead"):
        Design("bad", wells)


def test_dead_fraction_figures_per_cell_line(known_run, tmp_path):
    from incugrowth.dead_figures import save_dead_figures

    out, _ = known_run
    tables = {
        name: pd.read_csv(out / f"{name}.csv", keep_default_na=False)
        for name in ("dead_curves", "dunnett_dead", "endpoint")
    }
    tables["dead_curves"] = pd.read_csv(out / "dead_curves.csv")
    paths = save_dead_figures(tables, tmp_path, "untreated")
    stems = sorted({p.stem for p in paths})
    assert stems == ["dead_fraction", "dead_fraction_A", "dead_fraction_B"]
    svg = (tmp_path / "dead_fraction_A.svg").read_text(encoding="utf-8")
    assert "Dead cells (% of all cells)" in svg and "***" in svg


def test_dead_frames_take_the_nuclear_wells_sizes():
    counts = pd.DataFrame({"well": ["B2", "B2", "B3"], "diameter_px": [10.0, 10.0, 12.5]})
    assert dead._well_sizes(counts).to_dict() == {"B2": 10.0, "B3": 12.5}
    assert dead._well_sizes(counts.drop(columns="diameter_px")) is None


def test_report_puts_the_verdicts_first_and_the_dead_fraction_beside_growth(known_run):
    from incugrowth.report import write_report

    out, plain = known_run
    html = write_report(out, gallery=False).read_text(encoding="utf-8")
    verdicts = html.index('id="verdicts"')
    assert verdicts < html.index('<section id="experiment">')  # at the top, in "At a glance"
    table = html[html.index("<tbody>", verdicts) : html.index("</table>", verdicts)]
    assert table.count("<strong>cytotoxic</strong>") == 2
    assert table.count("<strong>cytostatic</strong>") == 2
    assert "2 cytotoxic, 2 cytostatic." in html
    section = html[html.index('<section id="dead">') :]
    section = section[: section.index("</section>")]
    assert "<svg" in section and "Dead cells (% of all cells)" in section
    assert "tox vs. untreated" in section and "***" in section
    assert "Dead cells were read from the export metric" in html  # the methods sentence
    assert "verdict per cell line and treatment" in html  # effects.csv in the output files
    assert (out / "figures" / "dead_fraction.svg").exists()
    plain_html = write_report(plain, gallery=False).read_text(encoding="utf-8")
    for text in ('id="verdicts"', 'id="dead"', "Dead cells were", "dead_fraction"):
        assert text not in plain_html, text


def test_sample_data_verdicts_match_its_truth(tmp_path):
    from pathlib import Path

    data = Path(__file__).parents[1] / "sample_data"
    exports = [data / "export_red_count.txt", data / "export_green_count.txt"]
    args = ["--export", *exports, "--plate-map", data / "plate_map.csv", "-o", tmp_path]
    assert _run([*args, "--dead-metric", DEAD_METRIC]) == 0
    truth = pd.read_csv(data / "truth_effects.csv", keep_default_na=False)
    found = pd.read_csv(tmp_path / "effects.csv", keep_default_na=False)
    merged = truth.merge(found, on=["cell_line", "treatment"], suffixes=("_true", ""))
    assert len(merged) == len(truth) == 25
    assert (merged["verdict"] == merged["verdict_true"]).all()
