"""Write notebooks/walkthrough.ipynb (run from the repository root). Outputs are not stored."""

import nbformat as nbf

cells = []


def md(text):
    cells.append(nbf.v4.new_markdown_cell(text.strip()))


def code(text):
    cells.append(nbf.v4.new_code_cell(text.strip()))


md("""
# incugrowth walkthrough: from an IncuCyte experiment to Figure 4

This notebook analyses the bundled `sample_data/` experiment step by step with the library
functions that `incugrowth run` uses: read the metric export and the plate map, build growth
curves, test each treatment against its control at 72 h (two-way ANOVA with Dunnett's
comparisons), count nuclei in the frames, and write the report.

`sample_data/` is simulated (see its README): five melanoma lines x six treatments x three wells,
as in Figure 4 of Zaretsky et al., N Engl J Med 2016.
""")
code("""
# Figures are shown as images, also when the notebook runs headless (nbconvert, nbclient).
%matplotlib inline

from pathlib import Path
import tempfile

import pandas as pd

import incugrowth as ig

DATA = Path("..") / "sample_data"
print("incugrowth", ig.__version__)
""")
md("""
## 1. Read the IncuCyte metric export and the plate map

`read_export` keeps the metric name and unit; time comes from the `Elapsed` column (hours).
`export_to_counts` turns it into the counts table: one row per well, image and time.
""")
code("""
export = ig.read_export(DATA / "export_red_count.txt")
print(export["metric"].iloc[0], "|", export["unit"].iloc[0])
counts = ig.exports.export_to_counts(export)
counts.head()
""")
code("""
plate = ig.read_plate_map(DATA / "plate_map.csv")
plate.head(8)
""")
md("""
## 2. Growth curves

Percent change from each well's first time point, then mean, SD and SEM over the replicate
wells of each condition.
""")
code("""
growth = ig.kinetics.growth_table(counts, plate)
curves = ig.kinetics.condition_curves(growth)
curves[(curves.cell_line == "M407") & (curves.elapsed_h == 72)]
""")
md("""
## 3. Statistics at the 72-hour endpoint

The endpoint is the imaged time nearest 72 h. Two-way ANOVA (cell line x treatment, Type III
sums of squares), then Dunnett's comparisons of each treatment with its control within each
cell line, using the pooled error of the two-way model (as Prism and R's emmeans do).
2'3'-cGAMP is compared with Lipofectamine, its vehicle, as the plate map's `control` column says.
""")
code("""
end = ig.kinetics.endpoint(growth, 72)
controls = dict(plate.dropna(subset=["control"]).query("control != ''")[["treatment", "control"]]
                .drop_duplicates().itertuples(index=False, name=None))
res = ig.stats.endpoint_statistics(end, dv="pct_change", control="untreated", controls=controls)
res["anova"]
""")
code("""
dunnett = res["dunnett"]
dunnett[["cell_line", "treatment", "control", "mean_diff", "ci_low", "ci_high", "p_adj", "stars"]]
""")
code("""
# The marks are the 72 h comparisons: pass the hour they were made at (the dashed line).
fig = ig.plots.growth_curve_figure(curves, stars=dunnett, endpoint_h=end["endpoint_h"].iloc[0])
fig
""")
md("""
## 3b. Beyond percent change: DIP rates and GR values

Percent change mixes the drug's effect with how fast the cells divide. The DIP rate (slope of
log2 count over time; Harris et al. 2016) and the GR value (growth rate inhibition; Hafner et al.
2016: 1 = no effect, 0 = cytostatic, below 0 = cell death) do not.
""")
code("""
dip = ig.dip.dip_rates(growth, control={"untreated", "Lipofectamine"})
dip.groupby(["cell_line", "treatment"], sort=False)["dip_rate"].mean().unstack().round(4)
""")
code("""
gr = ig.dip.gr_values(growth, control="untreated", controls=controls)
gr72 = gr[gr.elapsed_h == 72].pivot(index="cell_line", columns="treatment", values="gr")
gr72.reindex(index=plate.cell_line.unique(), columns=plate.treatment.unique()).round(2)
""")
md("""
## 4. Count nuclei in the frames

The frames of a few M407 wells are included (256 x 256 crops). `segment_nuclei` estimates the
nucleus size from the image itself (`diameter=None`); the simulator's truth says how many nuclei
each crop really holds.
""")
code("""
frames = ig.find_frames(DATA / "frames")
frames.head()
""")
code("""
from skimage.segmentation import find_boundaries
import numpy as np

red = ig.frames.select_channel(frames)
path = red[(red.well == "D1") & (red.elapsed_h == 72)]["path"].iloc[0]
image = ig.frames.read_frame(path)
labels = ig.image.segment_nuclei(image)
print("nuclei found:", labels.max())

from matplotlib.figure import Figure
fig = Figure(figsize=(4, 4))
ax = fig.subplots()
lo, hi = np.percentile(image, [1, 99.8])
ax.imshow(np.clip((image - lo) / (hi - lo), 0, 1), cmap="gray")
ax.contour(find_boundaries(labels), levels=[0.5], colors="yellow", linewidths=0.5)
ax.set_axis_off()
fig
""")
code("""
frame_counts = ig.batch.count_folder(DATA / "frames", jobs=1)
truth = pd.read_csv(DATA / "truth_counts.csv").dropna(subset=["count_in_frame"])
check = frame_counts.merge(truth[["well", "field", "elapsed_h", "count_in_frame"]],
                           on=["well", "field", "elapsed_h"])
check["error_pct"] = 100 * (check["count"] / check["count_in_frame"] - 1)
print(f"median absolute count error: {check['error_pct'].abs().median():.1f} %")
check[["well", "elapsed_h", "count", "count_in_frame", "error_pct", "qc_flag"]].head(10)
""")
md("""
## 5. The whole run, and the report

`ig.pipeline.run` does all of the above and writes the tables, figures, `run.json` and a
self-contained `report.html` (the same as `incugrowth run` on the command line; its arguments
are the command line's options). `ig.report.write_report(out)` rebuilds the report from the
tables in `out`, as `incugrowth report` does.
""")
code("""
out = Path(tempfile.mkdtemp()) / "results"
result = ig.pipeline.run(exports=[DATA / "export_red_count.txt"], plate_map=DATA / "plate_map.csv",
                         outdir=out)
print("report:", result.outdir / "report.html")
sorted(p.name for p in out.iterdir())
""")

# Fixed cell ids: regenerating an unchanged notebook leaves the file unchanged.
for i, cell in enumerate(cells):
    cell["id"] = f"cell-{i:02d}"

nb = nbf.v4.new_notebook(
    cells=cells,
    metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    },
)
nbf.write(nb, "notebooks/walkthrough.ipynb")
