"""Figures that can be read without the report's text: marks at their curves, the endpoint
hour and each treatment's own control on the figure, a shared y axis on request."""

import json
from pathlib import Path

import numpy as np
import pytest

from incugrowth import plots
from incugrowth.cli import main
from incugrowth.pipeline import run
from incugrowth.report_figures import endpoint_figure

DATA = Path(__file__).parents[1] / "sample_data"
EXPORT = DATA / "export_red_count.txt"
PLATE = DATA / "plate_map.csv"
MARKS = ("***", "**", "*", "NS")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    return run(exports=EXPORT, plate_map=PLATE, outdir=out, figures=False, report=False)


def test_each_mark_sits_at_its_curve_at_the_endpoint(sample):
    curves, dunnett = sample["curves"], sample["dunnett"]
    fig = plots.growth_curve_figure(curves, stars=dunnett, endpoint_h=72.0)
    fig.canvas.draw()
    colors = plots.treatment_colors(list(dict.fromkeys(curves["treatment"])))
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        line = ax.get_title()
        lo, hi = ax.get_ylim()
        marks = [t for t in ax.texts if t.get_text() in MARKS]
        assert len(marks) == (dunnett["cell_line"] == line).sum()
        for text in marks:
            x, y = text.get_position()
            # at the endpoint, inside the panel (not in a column right of it)
            assert x == 72.0 and ax.get_xlim()[0] < x < ax.get_xlim()[1]
            # beside the curve of its own colour, within a label's height of its value
            treatment = next(t for t, c in colors.items() if c == text.get_color())
            value = curves.query(
                "cell_line == @line and treatment == @treatment and elapsed_h == 72"
            )["mean"]
            assert abs(y - value.iloc[0]) < 0.15 * (hi - lo), (line, treatment)


def test_the_figure_names_the_endpoint_and_each_treatment_s_own_control(sample):
    fig = plots.growth_curve_figure(sample["curves"], stars=sample["dunnett"], endpoint_h=72.0)
    legend = fig.legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    assert "2'3'-cGAMP (vs. Lipofectamine)" in labels and "IFN gamma" in labels
    assert "marks: Dunnett vs. untreated, 72 h" in legend.get_title().get_text()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert all(any(t.get_text().strip() == "endpoint 72 h" for t in ax.texts) for ax in visible)

    end = endpoint_figure(sample["endpoint"], stars=sample["dunnett"], endpoint_h=72.0)
    assert end.get_suptitle() == (
        "At 72 h; marks: Dunnett vs. untreated; 2'3'-cGAMP vs. Lipofectamine"
    )
    log2 = plots.growth_curve_figure(
        sample["curves"], stars=sample["dunnett"], endpoint_h=72.0, scale="log2"
    )
    assert "Dunnett vs. untreated on log2 fold change" in log2.legends[0].get_title().get_text()


def test_sharey_gives_every_cell_line_one_y_axis(sample):
    def limits(fig):
        return {ax.get_ylim() for ax in fig.axes if ax.get_visible()}

    curves = sample["curves"]
    assert len(limits(plots.growth_curve_figure(curves))) > 1
    shared = plots.growth_curve_figure(curves, sharey=True)
    assert len(limits(shared)) == 1
    (lo, hi), top = limits(shared).pop(), (curves["mean"] + curves["sd"].fillna(0)).max()
    assert lo < curves["mean"].min() and hi > top * 0.99
    assert np.isfinite([lo, hi]).all()


def test_sharey_from_the_command_line_and_the_experiment_file(tmp_path, capsys):
    args = ["run", "--export", str(EXPORT), "--plate-map", str(PLATE), "--no-report"]
    assert main([*args, "-o", str(tmp_path / "a"), "--sharey"]) == 0
    doc = json.loads((tmp_path / "a" / "run.json").read_text())
    assert doc["parameters"]["sharey"] is True
    assert (tmp_path / "a" / "figures" / "growth_curves.png").exists()
    exp = tmp_path / "exp.toml"
    exp.write_text("sharey = true\n")
    assert main([*args, "--no-figures", "--config", str(exp), "-o", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "run.json").read_text())["parameters"]["sharey"] is True
    capsys.readouterr()
