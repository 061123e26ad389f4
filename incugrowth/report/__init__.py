"""The report: ``report.html`` rebuilt from the tables a run left in its output folder.

The report reads only what :func:`incugrowth.pipeline.run` wrote (the CSV tables and
``run.json``), so it can be rebuilt at any time with ``incugrowth report OUTDIR``. It is one
self-contained HTML file: figures are inline SVG (or base64 PNG for the frame pictures), the
style sheet is inline, nothing is fetched from the network, and it prints cleanly. Its figures
are also saved as PNG, SVG and PDF in ``OUTDIR/figures``.

One module a job: :mod:`~incugrowth.report.formatting` (numbers and P values),
:mod:`~incugrowth.report.reading` (the output folder), :mod:`~incugrowth.report.inline`
(figures into the page), :mod:`~incugrowth.report.conditions` (control, order, colours),
one module per section (:mod:`~incugrowth.report.experiment`,
:mod:`~incugrowth.report.endpoint`, :mod:`~incugrowth.report.metrics`,
:mod:`~incugrowth.report.doses`, :mod:`~incugrowth.report.time_course`,
:mod:`~incugrowth.report.plate_maps`, :mod:`~incugrowth.report.gallery`,
:mod:`~incugrowth.report.summary`), :mod:`~incugrowth.report.methods` (the methods paragraph)
and :mod:`~incugrowth.report.writer` (the page itself). The report of combined plates
(``incugrowth combine``) is :mod:`~incugrowth.report.combined`, its figures in
:mod:`~incugrowth.report.combined_figures`.
"""

# Internal helpers that tests import from here, re-exported explicitly.
from incugrowth.report.endpoint import _anova_rows as _anova_rows
from incugrowth.report.experiment import _plate_label as _plate_label
from incugrowth.report.formatting import format_number, format_p, stars_for_p
from incugrowth.report.methods import methods_text
from incugrowth.report.metrics import _span as _span
from incugrowth.report.reading import TABLE_FILES, read_outputs
from incugrowth.report.writer import report_command, write_report

__all__ = [
    "TABLE_FILES",
    "format_number",
    "format_p",
    "methods_text",
    "read_outputs",
    "report_command",
    "stars_for_p",
    "write_report",
]
