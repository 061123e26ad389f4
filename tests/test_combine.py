"""Combining repeated plates end to end: simulate --plates 3, three runs, combine.

The simulated plates differ in overall growth (plate effect) and in each condition's growth
(plate x condition noise); the combined analysis must recover the Figure 4 pattern of the
design (M420 and M407 inhibited by all three interferons, M464 and M407 JAK2-KO insensitive to
gamma only, M407 JAK1-KO to all three, cGAMP inhibiting every line but JAK1-KO).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from incugrowth.cli import main
from incugrowth.combine import TABLES, combine_runs
from incugrowth.errors import IncugrowthError
from incugrowth.pipeline import run
from incugrowth.simulate import simulate_plates
from incugrowth.simulate.designs import _FIG4_EFFECTS
from incugrowth.simulate.kinetics import DEAD_METRIC

TIMES = [0, 24, 48, 72]
pytestmark = pytest.mark.filterwarnings("ignore::incugrowth.errors.IncugrowthWarning")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    """Three plates simulated (exports only, with the dead-cell count) and run without
    figures or report."""
    base = tmp_path_factory.mktemp("plates")
    simulate_plates(base / "sim", 3, seed=4, times=TIMES, render_frames=False, progress=False)
    out = []
    for k in (1, 2, 3):
        plate = base / "sim" / f"plate{k}"
        run(
            exports=[plate / "export_red_count.txt", plate / "export_green_count.txt"],
            plate_map=plate / "plate_map.csv",
            outdir=base / f"day{k}",
            dead_metric=DEAD_METRIC,
            figures=False,
            report=False,
        )
        out.append(base / f"day{k}")
    return out


@pytest.fixture(scope="module")
def combined(runs, tmp_path_factory):
    return combine_runs(runs, tmp_path_factory.mktemp("combined") / "out")


def test_simulated_plates_record_their_truth(runs):
    sim = runs[0].parent / "sim"
    plates = pd.read_csv(sim / "plates.csv")
    assert plates["plate"].tolist() == ["plate1", "plate2", "plate3"]
    assert plates["rate_factor"].nunique() == 3  # the plates differ
    conditions = pd.read_csv(sim / "plate_conditions.csv")
    assert len(conditions) == 3 * 30
    # the plate x condition factor varies around the plate's factor
    ratio = conditions.merge(plates, on="plate", suffixes=("", "_plate"))
    spread = np.log(ratio["rate_factor"] / ratio["rate_factor_plate"])
    assert 0 < spread.std() < 0.1
    growth = [
        pd.read_csv(r / "endpoint.csv").query("cell_line == 'M407' and treatment == 'untreated'")
        for r in runs
    ]
    means = [g["pct_change"].mean() for g in growth]
    assert max(means) - min(means) > 5  # overall growth differs between days


def test_combined_analysis_recovers_figure_4(combined):
    d = combined["dunnett"]
    assert d["n_treatment"].eq(3).all() and d["df"].eq(90 - 30 - 2).all()  # means - params
    for row in d.itertuples():
        if row.treatment == "Lipofectamine":
            assert row.stars == "NS", row
            continue
        effect = _FIG4_EFFECTS[row.cell_line][row.treatment]
        significant = row.stars != "NS"
        assert significant == (effect > 0), (row.cell_line, row.treatment, row.p_adj)
        if significant:
            assert row.mean_diff < 0
    cgamp = d[d["treatment"] == "2'3'-cGAMP"]
    assert set(cgamp["control"]) == {"Lipofectamine"}
    # the sensitivity analysis reaches the same verdicts
    mixed = combined["dunnett_mixed"]
    assert (mixed["stars"] != "NS").tolist() == (d["stars"] != "NS").tolist()


def test_combined_tables(combined):
    means = combined["plate_means"]
    assert list(means.columns) == ["plate", "cell_line", "treatment", "endpoint_h", "mean", "sd",
                                   "n_wells"]  # fmt: skip
    assert len(means) == 90 and means["n_wells"].eq(3).all()
    anova = combined["anova"]
    assert anova["source"].tolist() == [
        "plate", "cell_line", "treatment", "cell_line:treatment", "Residual"
    ]  # fmt: skip
    assert anova.set_index("source").loc["Residual", "df"] == 90 - 30 - 2
    curves = combined["curves"]
    assert curves["n_plates"].eq(3).all()
    assert sorted(curves["elapsed_h"].unique()) == TIMES
    one = curves[(curves["cell_line"] == "M420") & (curves["treatment"] == "untreated")]
    plate_curves = combined["plate_curves"]
    per_plate = plate_curves[
        (plate_curves["cell_line"] == "M420") & (plate_curves["treatment"] == "untreated")
    ]
    at72 = per_plate[per_plate["elapsed_h"] == 72]["mean"]
    assert one[one["elapsed_h"] == 72]["mean"].item() == pytest.approx(at72.mean())
    assert one[one["elapsed_h"] == 72]["sd"].item() == pytest.approx(at72.std())
    agreement = combined["plate_agreement"]
    assert agreement["cell_line"].tolist()[-1] == "all"
    by_plate = combined["dunnett_by_plate"]
    assert set(by_plate["plate"]) == {"day1", "day2", "day3"}


def test_combined_outputs_on_disk(combined):
    out = combined.outdir
    for name in TABLES:
        assert (out / f"{name}.csv").exists(), name
    prism = pd.read_csv(out / "prism" / "prism_endpoint.csv")
    assert prism.columns[:4].tolist() == [
        "Cell line", "untreated_day1", "untreated_day2", "untreated_day3"
    ]  # fmt: skip
    means = combined["plate_means"]
    value = means.query("plate == 'day2' and cell_line == 'M464' and treatment == 'IFN gamma'")
    assert prism.set_index("Cell line").loc["M464", "IFN gamma_day2"] == pytest.approx(
        value["mean"].item()
    )
    growth = pd.read_csv(out / "prism" / "prism_growth_M420.csv")
    assert growth["Time (h)"].tolist() == TIMES
    assert (out / "figures" / "growth_curves.png").exists()
    doc = json.loads((out / "run.json").read_text())
    assert doc["command"] == "combine" and doc["finished"]
    assert doc["parameters"]["plates"] == ["day1", "day2", "day3"]
    assert doc["parameters"]["model"].startswith("pct_change ~ plate + cell_line * treatment")
    assert "dunnett_mixed.csv" in doc["outputs"] and "prism/prism_endpoint.csv" in doc["outputs"]
    assert any("no exact small-sample" in m for m in doc["messages"])
    assert len(doc["inputs"]) == 3 and all(len(i["run_json_sha256"]) == 64 for i in doc["inputs"])


def test_combined_report(combined):
    html = (combined.outdir / "report.html").read_text(encoding="utf-8")
    assert "n = 3 plates" in html  # error bars across plates, said in the captions
    assert "pct_change ~ plate + cell_line * treatment" in html
    assert html.count("<svg") >= 3  # plate means, growth curves, forest plot
    for stem in ("plate_means", "growth_curves", "forest"):
        assert (combined.outdir / "figures" / f"{stem}.png").exists()
    assert "Do the plates agree?" in html and "day2" in html
    assert "no exact small-sample degrees of freedom" in html
    methods = html.split('id="methods-text">')[1].split("</p>")[0]
    assert methods.startswith("Three plates (day1, day2 and day3)")
    assert "Dunnett" in methods and "plate as a block" in methods
    doc = json.loads((combined.outdir / "run.json").read_text())
    assert "report.html" in doc["outputs"] and "figures/forest.svg" in doc["outputs"]
    assert doc["results"]["block_model"]["df_resid"] == 58
    assert set(doc["results"]["mixed_model"]["variances"]) == {
        "plate", "plate:condition", "residual"
    }  # fmt: skip


def test_combined_dead_fraction_verdicts_match_the_truth(combined, runs):
    sim = runs[0].parent / "sim"
    truths = [
        pd.read_csv(sim / f"plate{k}" / "truth_effects.csv", keep_default_na=False)
        for k in (1, 2, 3)
    ]
    assert all(t.equals(truths[0]) for t in truths)  # the same treatments on every plate
    truth = truths[0][truths[0]["verdict"] != ""]
    assert {"cytotoxic", "cytostatic", "no effect"} <= set(truth["verdict"])
    found = combined["effects"]
    merged = truth.merge(found, on=["cell_line", "treatment"], suffixes=("_true", ""))
    assert len(merged) == len(truth)
    wrong = merged[merged["verdict"] != merged["verdict_true"]]
    assert wrong.empty, wrong[["cell_line", "treatment", "verdict", "verdict_true", "reason"]]
    # GR is the mean of the plates' GR at the endpoint
    gr = pd.concat([pd.read_csv(r / "gr.csv").query("elapsed_h == 72") for r in runs])
    one = gr.query("cell_line == 'M420' and treatment == 'IFN gamma'")["gr"]
    row = found.query("cell_line == 'M420' and treatment == 'IFN gamma'")
    assert len(one) == 3 and row["gr"].item() == pytest.approx(one.mean())


def test_combined_dead_fraction_tables(combined, runs):
    dead = combined["dead"]
    assert dead.columns[:6].tolist() == ["plate", "well", "elapsed_h", "live", "dead", "pct_dead"]
    assert len(dead) == sum(len(pd.read_csv(r / "dead.csv")) for r in runs)
    curves = combined["dead_curves"]
    assert curves["n_plates"].eq(3).all() and sorted(curves["elapsed_h"].unique()) == TIMES
    at72 = dead.query("cell_line == 'M420' and treatment == 'untreated' and elapsed_h == 72")
    plate_means = at72.groupby("plate")["pct_dead"].mean()
    row = curves.query("cell_line == 'M420' and treatment == 'untreated' and elapsed_h == 72")
    assert row["mean"].item() == pytest.approx(plate_means.mean())
    assert row["sd"].item() == pytest.approx(plate_means.std())
    anova = combined["anova_dead"].set_index("source")
    assert anova.index.tolist()[0] == "plate" and anova.loc["Residual", "df"] == 90 - 30 - 2
    d = combined["dunnett_dead"]
    assert d["n_treatment"].eq(3).all() and list(d.columns) == list(combined["dunnett"].columns)
    # the estimated means of the balanced block model are the means of the plate means
    cgamp = d.query("cell_line == 'M420' and treatment == \"2'3'-cGAMP\"").iloc[0]
    ends = dead.query("cell_line == 'M420' and treatment == \"2'3'-cGAMP\" and elapsed_h == 72")
    assert cgamp["mean_treatment"] == pytest.approx(ends.groupby("plate")["pct_dead"].mean().mean())
    assert cgamp["control"] == "Lipofectamine"
    for name in ("dead", "dead_curves", "anova_dead", "dunnett_dead", "effects"):
        assert (combined.outdir / f"{name}.csv").exists(), name
    doc = json.loads((combined.outdir / "run.json").read_text())
    assert doc["parameters"]["dead_model"].startswith("pct_dead ~ plate + cell_line")
    assert doc["results"]["dead_model"]["df_resid"] == 58
    html = (combined.outdir / "report.html").read_text(encoding="utf-8")
    verdicts = html.index('id="verdicts"')
    assert verdicts < html.index('<section id="plates">')  # at the top
    assert "<strong>cytotoxic</strong>" in html[verdicts:]
    methods = html.split('id="methods-text">')[1].split("</p>")[0]
    assert "dead fraction" in methods and "pct_dead ~ plate" in methods


def test_a_run_without_dead_input_gives_no_dead_analysis(runs, tmp_path):
    plain = copy_run(runs[2], tmp_path / "day3")
    for name in ("dead", "dead_curves", "anova_dead", "dunnett_dead", "effects"):
        (plain / f"{name}.csv").unlink()
    out = tmp_path / "out"
    out.mkdir()
    (out / "effects.csv").write_text("left by an earlier combine\n")
    res = combine_runs([runs[0], runs[1], plain], out, figures=False, report=False)
    said = [w for w in res.warnings if "dead-cell input" in w]
    assert len(said) == 1 and "(dead.csv) is in 2 of 3 runs (not in day3)" in said[0]
    assert not {"dead", "dead_curves", "anova_dead", "dunnett_dead", "effects"} & set(res.tables)
    assert not list(out.glob("*dead*.csv")) and not (out / "effects.csv").exists()
    assert "dead_model" not in res.parameters
    assert "dunnett" in res.tables


def test_report_command_rebuilds_the_combined_report(combined, capsys):
    path = combined.outdir / "report.html"
    path.unlink()
    assert main(["report", str(combined.outdir)]) == 0
    assert "Combined report: 3 plates" in path.read_text(encoding="utf-8")


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def rewrite(path: Path, column: str, old, new) -> None:
    table = pd.read_csv(path)
    table[column] = table[column].replace({old: new})
    table.to_csv(path, index=False)


def cli_error(capsys, args) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_names_spelt_differently_are_an_error(runs, tmp_path, capsys):
    odd = copy_run(runs[2], tmp_path / "day3")
    for name in ("endpoint.csv", "growth.csv"):
        rewrite(odd / name, "cell_line", "M407 JAK1-KO", "M407 jak1 KO")
    err = cli_error(
        capsys, ["combine", str(runs[0]), str(runs[1]), str(odd), "-o", str(tmp_path / "o")]
    )
    assert str(odd) in err and "'M407 jak1 KO'" in err and "'M407 JAK1-KO'" in err


def test_different_growth_measures_are_an_error(runs, tmp_path, capsys):
    odd = copy_run(runs[1], tmp_path / "day2")
    doc = json.loads((odd / "run.json").read_text())
    doc["parameters"]["measure"] = "confluence"
    (odd / "run.json").write_text(json.dumps(doc))
    err = cli_error(capsys, ["combine", str(runs[0]), str(odd), "-o", str(tmp_path / "o")])
    assert str(odd) in err and "confluence" in err and "count" in err


def test_endpoint_mismatch_is_an_error(runs, tmp_path, capsys):
    odd = copy_run(runs[1], tmp_path / "day2")
    end = pd.read_csv(odd / "endpoint.csv").assign(endpoint_h=48.0)
    end.to_csv(odd / "endpoint.csv", index=False)
    err = cli_error(capsys, ["combine", str(runs[0]), str(odd), "-o", str(tmp_path / "o")])
    assert str(odd) in err and "48 h" in err and "72 h" in err and "--endpoint" in err


@pytest.mark.parametrize("damage", ["no run.json", "unfinished", "no endpoint", "missing"])
def test_a_folder_that_is_not_a_finished_run_is_an_error(runs, tmp_path, capsys, damage):
    odd = tmp_path / "odd"
    if damage != "missing":
        copy_run(runs[1], odd)
    if damage == "no run.json":
        (odd / "run.json").unlink()
    elif damage == "unfinished":
        doc = json.loads((odd / "run.json").read_text())
        doc["finished"] = None
        (odd / "run.json").write_text(json.dumps(doc))
    elif damage == "no endpoint":
        (odd / "endpoint.csv").unlink()
    err = cli_error(capsys, ["combine", str(runs[0]), str(odd), "-o", str(tmp_path / "o")])
    assert err.startswith(f"incugrowth: error: {odd}: ")


def test_too_few_or_repeated_runs(runs, tmp_path):
    with pytest.raises(IncugrowthError, match="at least two"):
        combine_runs(runs[:1], tmp_path / "o")
    with pytest.raises(IncugrowthError, match="given twice"):
        combine_runs([runs[0], runs[0]], tmp_path / "o")


def test_a_condition_on_some_plates_is_analysed_on_those(runs, tmp_path, capsys):
    odd = copy_run(runs[2], tmp_path / "day3")
    for name in ("endpoint.csv", "growth.csv"):
        table = pd.read_csv(odd / name)
        gone = (table["cell_line"] == "M464") & (table["treatment"] == "IFN gamma")
        table[~gone].to_csv(odd / name, index=False)
    out = tmp_path / "o"
    args = ["combine", str(runs[0]), str(runs[1]), str(odd), "-o", str(out), "--no-figures"]
    assert main([*args, "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "warning: M464 x IFN gamma is on 2 of 3 plates (not on day3)" in err
    d = pd.read_csv(out / "dunnett.csv")
    row = d[(d["cell_line"] == "M464") & (d["treatment"] == "IFN gamma")]
    assert row["n_treatment"].item() == 2 and row["stars"].item() == "NS"
    assert (
        pd.read_csv(out / "curves.csv")
        .query("cell_line == 'M464' and treatment == 'IFN gamma'")["n_plates"]
        .eq(2)
        .all()
    )
    from incugrowth.report.combined import combined_methods_text

    run_doc = json.loads((out / "run.json").read_text())
    text = combined_methods_text({"plate_means": pd.read_csv(out / "plate_means.csv")}, run_doc)
    assert text.endswith(
        "M464 x IFN gamma (2 plates) was not on every plate and analysed on the plates that had it."
    )


def test_plates_scanned_minutes_apart_share_time_points(runs, tmp_path):
    late = copy_run(runs[2], tmp_path / "day3")
    for name in ("growth.csv", "endpoint.csv"):
        table = pd.read_csv(late / name)
        table["elapsed_h"] += 0.25  # the third plate was scanned 15 minutes later
        if "endpoint_h" in table.columns:
            table["endpoint_h"] += 0.25
        table.to_csv(late / name, index=False)
    out = tmp_path / "out"
    (out / "prism").mkdir(parents=True)
    (out / "prism" / "prism_growth_gone.csv").write_text("left by an earlier combine\n")
    res = combine_runs([runs[0], runs[1], late], out, figures=False, report=False)
    assert sorted(res["curves"]["elapsed_h"].unique()) == TIMES
    assert res["curves"]["n_plates"].eq(3).all()
    assert res.parameters["endpoint_h"] == pytest.approx(72 + 0.25 / 3)
    assert not (out / "prism" / "prism_growth_gone.csv").exists()


def test_experiment_file_lists_the_runs(runs, tmp_path, capsys):
    cfg = tmp_path / "combined.toml"
    listed = ", ".join(f'"{r}"' for r in runs)
    cfg.write_text(f'runs = [{listed}]\noutdir = "out"\ncontrol = "untreated"\n')
    assert main(["combine", "--config", str(cfg), "--no-figures", "--no-report"]) == 0
    said = capsys.readouterr().out
    assert "combined 3 plates" in said and "verdicts (effects.csv): " in said
    assert (tmp_path / "out" / "dunnett.csv").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text('runs = ["a", "b"]\nplate_map = "x.csv"\n')
    err = cli_error(capsys, ["combine", "--config", str(bad)])
    assert str(bad) in err and "'plate_map'" in err


def test_run_many_ends_with_a_combine(runs, tmp_path, capsys, monkeypatch):
    import functools

    from incugrowth import combine, pipeline

    # the figures and reports of each plate are tested elsewhere and take most of the time
    monkeypatch.setattr(pipeline, "run", functools.partial(run, figures=False, report=False))
    monkeypatch.setattr(combine, "_figures", lambda *args: [])
    monkeypatch.setattr(combine, "_write_report", lambda outdir: None)
    sim = runs[0].parent / "sim"
    configs = []
    for k in (1, 2):
        cfg = tmp_path / f"plate{k}.toml"
        cfg.write_text(
            f'exports = ["{sim / f"plate{k}" / "export_red_count.txt"}"]\n'
            f'plate_map = "{sim / f"plate{k}" / "plate_map.csv"}"\n'
            f'outdir = "{tmp_path / f"plate{k}"}"\n'
        )
        configs.append(str(cfg))
    out = tmp_path / "combined"
    assert main(["run-many", *configs, "--combine", str(out)]) == 0
    assert "combined 2 plates" in capsys.readouterr().out
    assert pd.read_csv(out / "plate_means.csv")["plate"].unique().tolist() == ["plate1", "plate2"]


def test_combine_runs_plates_given_as_experiment_files(runs, tmp_path, capsys, monkeypatch):
    import functools

    from incugrowth import combine, pipeline

    monkeypatch.setattr(pipeline, "run", functools.partial(run, figures=False, report=False))
    monkeypatch.setattr(combine, "_figures", lambda *args: [])
    monkeypatch.setattr(combine, "_write_report", lambda outdir: None)
    sim = runs[0].parent / "sim"
    cfg = tmp_path / "plate3.toml"
    cfg.write_text(
        f'exports = ["{sim / "plate3" / "export_red_count.txt"}"]\n'
        f'plate_map = "{sim / "plate3" / "plate_map.csv"}"\n'
        f'outdir = "{tmp_path / "day3"}"\n'
    )
    combined = tmp_path / "combined.toml"
    combined.write_text(f'runs = ["{runs[0]}", "{runs[1]}", "plate3.toml"]\noutdir = "out"\n')
    assert main(["combine", "--config", str(combined)]) == 0
    assert "combined 3 plates" in capsys.readouterr().out
    plates = pd.read_csv(tmp_path / "out" / "plate_means.csv")["plate"].unique().tolist()
    assert plates == ["day1", "day2", "day3"]


def test_simulate_plates_cli(tmp_path, capsys):
    out = tmp_path / "sim"
    args = ["simulate", str(out), "--plates", "2", "--no-frames", "--times", "0,72"]
    assert main(args) == 0
    assert (out / "plate2" / "export_red_count.txt").exists()
    assert pd.read_csv(out / "plates.csv")["seed"].tolist() == [1, 2]
