"""Statistics of a growth-inhibition experiment: two-way ANOVA and Dunnett's comparisons."""

from incugrowth.stats.comparisons import (
    ANOVA_COLUMNS,
    CHECK_COLUMNS,
    DUNNETT_COLUMNS,
    RM_ANOVA_COLUMNS,
    assumption_checks,
    dunnett,
    endpoint_statistics,
    rm_two_way_anova,
    stars,
    two_way_anova,
)

__all__ = [
    "ANOVA_COLUMNS",
    "CHECK_COLUMNS",
    "DUNNETT_COLUMNS",
    "RM_ANOVA_COLUMNS",
    "assumption_checks",
    "dunnett",
    "endpoint_statistics",
    "rm_two_way_anova",
    "stars",
    "two_way_anova",
]
