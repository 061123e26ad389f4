"""The endpoint analysis of the ``run`` command: ANOVA, Dunnett's comparisons and checks."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from incugrowth.errors import IncugrowthError
from incugrowth.stats._common import _drop_flat_levels, _prepare
from incugrowth.stats.anova import _empty_anova, _one_way, _two_way
from incugrowth.stats.checks import _checks
from incugrowth.stats.comparisons import _dunnett_table


def endpoint_statistics(
    endpoint: pd.DataFrame,
    *,
    dv: str = "pct_change",
    control: str = "untreated",
    controls: Mapping[str, str] | None = None,
    by: str = "cell_line",
    treatment: str = "treatment",
) -> dict:
    """Two-way ANOVA, Dunnett's comparisons and assumption checks of the endpoint table.

    The analysis of Zaretsky et al. (2016), Fig. 4: ``by x treatment`` two-way ANOVA with
    interaction (Type III), then within each ``by`` level each treatment against ``control``
    (or its own control from ``controls``), pooled error of the cell-means model. What cannot
    be computed for one cell line (no control wells, a missing combination) is reported in
    ``messages`` while the rest is computed; with a single ``by`` level the ANOVA is one-way.
    Warnings of the parts are collected into ``messages``, not emitted.

    Parameters
    ----------
    endpoint : pandas.DataFrame
        The endpoint table (one row a well).
    dv, control, controls, by, treatment
        As in :func:`dunnett`.

    Returns
    -------
    dict
        ``{"anova": DataFrame, "dunnett": DataFrame, "checks": DataFrame, "messages": [str]}``;
        a table that could not be computed is empty (with its columns).

    Raises
    ------
    IncugrowthError
        Mistakes in the call (missing columns, a control that no well has, a cyclic
        ``controls``), or nothing at all can be computed (e.g. no replicate wells).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"cell_line": ["A"] * 6 + ["B"] * 3,
    ...                   "treatment": ["untreated"] * 3 + ["IFN"] * 3 + ["IFN"] * 3,
    ...                   "pct_change": [250.0, 262, 241, 118, 131, 125, 240, 229, 251]})
    >>> out = endpoint_statistics(d)
    >>> out["dunnett"][["cell_line", "treatment", "stars"]]
      cell_line treatment stars
    0         A       IFN   ***
    >>> print(out["messages"][-1])
    cell_line 'B' skipped: no 'untreated' wells to compare 'IFN' with
    >>> out["anova"].empty  # 'B' x 'untreated' is an empty cell of the two-way design
    True
    """
    frame, messages = _prepare(endpoint, dv, (by, treatment), "endpoint_statistics")
    frame, flat = _drop_flat_levels(frame, dv, by)
    messages += flat
    anova = _empty_anova()
    problems = []
    try:
        if frame[by].nunique() == 1:
            anova = _one_way(frame, dv, treatment)
            messages.append(f"one {by} only: one-way ANOVA over {treatment}")
        else:
            anova = _two_way(frame, dv, by, treatment, 3)
    except IncugrowthError as exc:
        problems.append(str(exc))
        messages.append(f"ANOVA not computed: {exc}")

    # a misnamed control or a cyclic `controls` is a mistake in the call, not in one cell line
    table, more = _dunnett_table(
        frame, dv, treatment, by, control, controls, True, "two-sided", 0.95
    )
    messages.extend(more)
    if table.empty:
        problems.append(f"no {by} has both {control!r} and a treatment")
    if anova.empty and table.empty:
        raise IncugrowthError(f"no statistics can be computed: {problems[-1] if problems else ''}")
    checks = _checks(frame, dv, [by, treatment])
    return {"anova": anova, "dunnett": table, "checks": checks, "messages": messages}
