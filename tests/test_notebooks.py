"""The notebooks run from top to bottom against the bundled sample data."""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    # no advice from a library in the reader's way (tqdm's "install ipywidgets", say)
    stderr = [
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("name") == "stderr"
    ]
    assert not any("IProgress not found" in text for text in stderr), stderr
    # The figures show as images, not as "<Figure size 1680x780 with 6 Axes>": the growth
    # curves and the outlined nuclei.
    images = [
        cell.source
        for cell in nb.cells
        if cell.cell_type == "code"
        and any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
    ]
    assert any("growth_curve_figure" in src for src in images), images
    assert any("find_boundaries" in src for src in images), images
    # Every code cell produced something a reader can see, or ran silently by design.
    assert sum(1 for c in nb.cells if c.cell_type == "code" and c.get("outputs")) >= 8


ROOT = Path(__file__).parents[1]


def _python_blocks(markdown: str) -> list[str]:
    import re

    return re.findall(r"```python\n(.*?)```", markdown, re.S)


def test_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's Python example, from a fresh folder holding the sample data: its figure
    carries the endpoint comparisons of its own Dunnett table."""
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    monkeypatch.chdir(tmp_path)
    block = _python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))[0]
    names: dict = {}
    exec(compile(block, "README.md", "exec"), names)
    assert (tmp_path / "growth_curves.png").stat().st_size > 1000
    fig, dunnett, end = names["fig"], names["stats"]["dunnett"], names["end"]
    assert fig.legends[0].get_title().get_text().endswith(f"{end['endpoint_h'].iloc[0]:g} h")
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        marks = [t.get_text() for t in ax.texts if t.get_text() in ("***", "**", "*", "NS")]
        expected = dunnett.loc[dunnett["cell_line"] == ax.get_title(), "stars"]
        assert sorted(marks) == sorted(expected)


def test_examples_place_marks_at_the_endpoint():
    """Every example that writes significance marks on growth curves says at which hour the
    comparisons were made; without it the marks sit at the last time point (96 h)."""
    import re

    import nbformat

    sources = _python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    sources.append((ROOT / "incugrowth" / "__init__.py").read_text(encoding="utf-8"))
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        sources += [c.source for c in nb.cells if c.cell_type == "code"]
    calls = [
        call
        for src in sources
        for call in re.findall(r"growth_curve_figure\((.*?)\)\n", src, re.S)
        if "stars=" in call
    ]
    assert len(calls) >= 3
    for call in calls:
        assert "endpoint_h=" in call, call
