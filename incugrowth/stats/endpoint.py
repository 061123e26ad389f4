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


#: The scales the endpoint can be tested on: the response column of each.
SCALES = {"pct": "pct_change", "log2": "log2_fold_change"}
#: Each scale in words.
SCALE_WORDS = {"pct": "percent change", "log2": "log2 fold change"}
#: The formal assumption checks; the SD ratio beside them is a rule of thumb, which with
#: three wells a cell exceeds 3 by chance alone, so it does not decide on its own.
FORMAL_CHECKS = ("Shapiro-Wilk (residuals)", "Brown-Forsythe (cells)")


def check_scale(scale: str) -> str:
    """``scale`` if it is one of :data:`SCALES`, else an error naming the choices."""
    if scale not in SCALES:
        raise IncugrowthError(
            f"scale must be one of {', '.join(map(repr, SCALES))} (percent change or log2 fold "
            f"change), got {scale!r}"
        )
    return scale


def with_log2_fold_change(endpoint: pd.DataFrame) -> pd.DataFrame:
    """The endpoint table with ``log2_fold_change`` = log2(count / baseline count), infinite
    where a count is 0 (the statistics leave such wells out, and say so).

    Examples
    --------
    >>> d = pd.DataFrame({"count": [400.0, 100.0, 0.0], "baseline_count": [100.0] * 3})
    >>> with_log2_fold_change(d)["log2_fold_change"].tolist()
    [2.0, 0.0, -inf]
    """
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.log2(endpoint["count"] / endpoint["baseline_count"])
    return endpoint.assign(log2_fold_change=value)


def failed_checks(checks: pd.DataFrame) -> list[str]:
    """The formal assumption checks with P < 0.05, as text ("Shapiro-Wilk P = 2.1e-05").

    Examples
    --------
    >>> checks = pd.DataFrame({"test": list(FORMAL_CHECKS), "p": [2.06e-5, 0.31]})
    >>> failed_checks(checks)
    ['Shapiro-Wilk P = 2.1e-05']
    """
    if checks is None or checks.empty:
        return []
    rows = checks[checks["test"].isin(FORMAL_CHECKS) & (checks["p"] < 0.05)]
    return [f"{t.split(' (')[0]} P = {p:.2g}" for t, p in zip(rows["test"], rows["p"])]


def endpoint_statistics_on_scale(
    endpoint: pd.DataFrame,
    *,
    scale: str = "pct",
    control: str = "untreated",
    controls: Mapping[str, str] | None = None,
) -> dict:
    """:func:`endpoint_statistics` on the chosen scale, with the other scale beside it.

    The primary scale (``"pct"``, percent change, the reference study's; or ``"log2"``, log2
    fold change, whose spread grows less with the mean) gives the ANOVA and Dunnett's
    comparisons; the other scale's comparisons and checks are computed too, so that a
    reader sees whether the conclusions depend on the scale.

    Returns
    -------
    dict
        ``anova``, ``dunnett`` (primary scale), ``other`` (Dunnett on the other scale, or
        None), ``checks`` (both scales, a ``scale`` column, the primary first), ``messages``
        (of the primary analysis) and ``advice`` (a sentence when the formal checks fail on
        the primary scale, else None).

    Examples
    --------
    >>> d = pd.DataFrame({"cell_line": "A", "treatment": ["untreated"] * 3 + ["IFN"] * 3,
    ...                   "count": [400.0, 420, 380, 150, 160, 140],
    ...                   "baseline_count": 100.0})
    >>> d["pct_change"] = 100 * (d["count"] / d["baseline_count"] - 1)
    >>> out = endpoint_statistics_on_scale(d, scale="log2")
    >>> out["dunnett"]["mean_diff"].round(3).tolist()
    [-1.415]
    >>> out["other"]["mean_diff"].round(1).tolist()
    [-250.0]
    """
    check_scale(scale)
    other = "log2" if scale == "pct" else "pct"
    data = {"pct": endpoint, "log2": with_log2_fold_change(endpoint)}
    res = endpoint_statistics(data[scale], dv=SCALES[scale], control=control, controls=controls)
    try:
        alt = endpoint_statistics(data[other], dv=SCALES[other], control=control, controls=controls)
    except IncugrowthError:
        alt = None
    checks = [res["checks"].assign(scale=scale)]
    if alt is not None:
        checks.append(alt["checks"].assign(scale=other))
    advice = None
    failed = failed_checks(res["checks"])
    if failed:
        here = f"the ANOVA assumption checks fail on {SCALE_WORDS[scale]} ({'; '.join(failed)})"
        failed_other = failed_checks(alt["checks"]) if alt is not None else None
        if failed_other == []:
            advice = (
                f"{here} and hold on {SCALE_WORDS[other]}: consider --scale {other} "
                f"(its comparisons are in dunnett_{other}.csv)"
            )
        elif failed_other:
            advice = (
                f"{here} and on {SCALE_WORDS[other]} too ({'; '.join(failed_other)}): look "
                "for outlier wells; the P values are approximate"
            )
        else:
            advice = f"{here}: the P values are approximate"
    return {
        "anova": res["anova"],
        "dunnett": res["dunnett"],
        "other": alt["dunnett"] if alt is not None else None,
        "checks": pd.concat(checks, ignore_index=True),
        "messages": res["messages"],
        "advice": advice,
    }
