"""Write the input tables of the statistics tests (run once; the CSVs are committed).

Run from the repository root::

    python tests/data/stats/make_stats_inputs.py

Endpoint tables are percent change at 72 h for three melanoma lines and four treatments, three
replicate wells each; the unbalanced table loses three wells. Growth-curve tables follow one line
(M420) over 12-72 h with a random growth rate per well, so the repeated measures are correlated
and not spherical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
TREATMENTS = ["untreated", "IFN gamma", "Lipofectamine", "2'3'-cGAMP"]
CELL_LINES = ["M420", "M464", "M407"]
ENDPOINT_MEANS = {
    "M420": [260.0, 150.0, 245.0, 120.0],
    "M464": [230.0, 222.0, 212.0, 95.0],
    "M407": [280.0, 235.0, 262.0, 140.0],
}
# wells lost in the unbalanced design (cell line, treatment, replicate 0-2)
LOST = [("M420", "IFN gamma", 2), ("M464", "untreated", 1), ("M407", "2'3'-cGAMP", 0)]


def endpoint_tables(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for c, line in enumerate(CELL_LINES):
        for t, treatment in enumerate(TREATMENTS):
            mean = ENDPOINT_MEANS[line][t]
            sd = 0.06 * (100.0 + mean)
            for r in range(3):
                rows.append(
                    {
                        "well": f"{'BCD'[r]}{2 + 4 * c + t}",
                        "cell_line": line,
                        "treatment": treatment,
                        "rep": r,
                        "endpoint_h": 72.0,
                        "pct_change": round(float(rng.normal(mean, sd)), 3),
                    }
                )
    balanced = pd.DataFrame(rows)
    lost = pd.Series(False, index=balanced.index)
    for line, treatment, r in LOST:
        lost |= (
            (balanced["cell_line"] == line)
            & (balanced["treatment"] == treatment)
            & (balanced["rep"] == r)
        )
    unbalanced = balanced[~lost]
    return balanced.drop(columns="rep"), unbalanced.drop(columns="rep")


def growth_tables(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    # doubling times (h) per treatment; each well draws its own rate around them
    doubling = {"untreated": 38.0, "IFN gamma": 70.0, "Lipofectamine": 40.0, "2'3'-cGAMP": 80.0}
    times = np.arange(12.0, 73.0, 12.0)
    rows = []
    for t, treatment in enumerate(TREATMENTS):
        for r in range(3):
            rate = np.log(2) / doubling[treatment] * np.exp(rng.normal(0.0, 0.06))
            lag = rng.normal(0.0, 2.0)
            for h in times:
                pct = 100.0 * (np.exp(rate * max(h - lag, 0.0)) - 1.0) + rng.normal(0.0, 4.0)
                rows.append(
                    {
                        "well": f"{'EFG'[r]}{2 + t}",
                        "cell_line": "M420",
                        "treatment": treatment,
                        "elapsed_h": h,
                        "pct_change": round(float(pct), 3),
                    }
                )
    balanced = pd.DataFrame(rows)
    unbalanced = balanced[balanced["well"] != "G3"]  # the third IFN gamma well is lost
    return balanced, unbalanced


def main() -> None:
    rng = np.random.default_rng(20160901)
    balanced, unbalanced = endpoint_tables(rng)
    balanced.to_csv(HERE / "endpoint_balanced.csv", index=False)
    unbalanced.to_csv(HERE / "endpoint_unbalanced.csv", index=False)
    growth, growth_unbalanced = growth_tables(rng)
    growth.to_csv(HERE / "growth_balanced.csv", index=False)
    growth_unbalanced.to_csv(HERE / "growth_unbalanced.csv", index=False)


if __name__ == "__main__":
    main()
