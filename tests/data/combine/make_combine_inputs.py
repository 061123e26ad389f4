"""Write wells_unbalanced.csv: endpoint percent change of three plates (repeated experiments).

Three cell lines x four treatments x three wells on each of three plates, with a plate effect
(overall growth differs between days) and plate x condition noise. Unbalanced on purpose: one
well is lost (plate 2, M420 untreated) and one condition is missing on one plate (plate 3,
M464 x IFN gamma). Run once; tests/r/combine_reference.R reads the file.

    python tests/data/combine/make_combine_inputs.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

CELL_LINES = ["M420", "M464", "M407"]
TREATMENTS = ["untreated", "IFN gamma", "Lipofectamine", "2'3'-cGAMP"]
MEANS = {
    "M420": [250.0, 90.0, 235.0, 110.0],
    "M464": [220.0, 215.0, 210.0, 100.0],
    "M407": [300.0, 95.0, 280.0, 120.0],
}


def main() -> None:
    rng = np.random.default_rng(18)
    rows = []
    for plate, shift in zip((1, 2, 3), (0.0, 35.0, -25.0)):
        for line in CELL_LINES:
            for treatment, mean in zip(TREATMENTS, MEANS[line]):
                cell = mean + shift + rng.normal(0, 12)  # plate x condition noise
                for rep in (1, 2, 3):
                    rows.append((f"plate{plate}", line, treatment, rep, cell + rng.normal(0, 15)))
    d = pd.DataFrame(rows, columns=["plate", "cell_line", "treatment", "replicate", "pct_change"])
    d["pct_change"] = d["pct_change"].round(2)
    lost = (d["plate"] == "plate2") & (d["cell_line"] == "M420") & (d["treatment"] == "untreated")
    lost &= d["replicate"] == 3
    missing = (d["plate"] == "plate3") & (d["cell_line"] == "M464")
    missing &= d["treatment"] == "IFN gamma"
    d = d[~lost & ~missing]
    d.to_csv(Path(__file__).parent / "wells_unbalanced.csv", index=False)


if __name__ == "__main__":
    main()
