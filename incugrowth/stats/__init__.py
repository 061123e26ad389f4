"""Statistics of a growth-inhibition experiment: two-way ANOVA and Dunnett's comparisons.

The tables match what GraphPad Prism and R (``car::Anova``, ``emmeans``, ``multcomp``) report:

- :func:`two_way_anova`: ordinary two-way ANOVA with interaction, Type III sums of squares with
  sum-to-zero contrasts (Type II on request).
- :func:`dunnett`: each treatment against its control within each level of another factor (each
  cell line, or each time point), with the pooled error of the cell-means model and P values and
  simultaneous confidence intervals from the exact multivariate t distribution.
- :func:`rm_two_way_anova`: repeated-measures (split-plot) two-way ANOVA, wells as subjects, with
  the Greenhouse-Geisser correction.
- :func:`assumption_checks`: normality of residuals and equality of variances.
- :func:`endpoint_statistics`: the call the ``run`` command makes on the endpoint table.
- :func:`block_anova`, :func:`block_dunnett`: repeated plates combined, the plate as a block
  (``pct_change ~ plate + cell_line * treatment`` on plate means); :func:`plate_agreement`
  (plate x treatment interaction on the wells) and :func:`mixed_dunnett` (mixed model of the
  wells, a sensitivity analysis), as ``incugrowth combine`` uses them.

All take a long (tidy) DataFrame and column names, and return DataFrames with documented columns.

Layouts, as in Prism:

- endpoint (the default): ``two_way_anova(endpoint)`` and ``dunnett(endpoint)``, cell line x
  treatment, one family of comparisons per cell line;
- growth curves of one cell line: ``two_way_anova(line, factors=("elapsed_h", "treatment"))`` and
  ``dunnett(line, by="elapsed_h")``, one family per time point, every time (the endpoint among
  them) reported; the baseline, where percent change is 0 in every well, is left out with a
  warning (its wells would add residual degrees of freedom without variance);
- repeated measures (the same wells over time): ``rm_two_way_anova(line)``; the comparisons at
  each time are ``dunnett(line, by="elapsed_h")``, whose pooled error is exactly Prism's
  "MS within cells" of that ANOVA (``attrs["ms_within_cells"]``).

One module a method: :mod:`~incugrowth.stats.anova`, :mod:`~incugrowth.stats.comparisons`
(with the multivariate t quadrature in :mod:`~incugrowth.stats.mvt`),
:mod:`~incugrowth.stats.repeated`, :mod:`~incugrowth.stats.checks`,
:mod:`~incugrowth.stats.endpoint`, :mod:`~incugrowth.stats.blocks` and
:mod:`~incugrowth.stats.mixed`.
"""

from incugrowth.stats._common import stars
from incugrowth.stats.anova import ANOVA_COLUMNS, two_way_anova
from incugrowth.stats.blocks import block_anova, block_dunnett, plate_agreement
from incugrowth.stats.checks import CHECK_COLUMNS, assumption_checks
from incugrowth.stats.comparisons import DUNNETT_COLUMNS, dunnett
from incugrowth.stats.endpoint import SCALES, endpoint_statistics, endpoint_statistics_on_scale
from incugrowth.stats.mixed import mixed_dunnett
from incugrowth.stats.repeated import RM_ANOVA_COLUMNS, rm_two_way_anova

__all__ = [
    "ANOVA_COLUMNS",
    "CHECK_COLUMNS",
    "DUNNETT_COLUMNS",
    "RM_ANOVA_COLUMNS",
    "SCALES",
    "assumption_checks",
    "block_anova",
    "block_dunnett",
    "dunnett",
    "endpoint_statistics",
    "endpoint_statistics_on_scale",
    "mixed_dunnett",
    "plate_agreement",
    "rm_two_way_anova",
    "stars",
    "two_way_anova",
]
