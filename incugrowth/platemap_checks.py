"""Plate-map names that look mistyped, and conditions with fewer wells than the others.

A name typed two ways (``untreated`` and ``Untreated``, ``IFN gamma`` and ``IFN gama``) makes a
condition of its own: the statistics change (a new comparison, a control with fewer wells, an
ANOVA that cannot be computed) and nothing fails. These checks find such names and say which
wells hold them and which name was probably meant; the analysis goes on unchanged.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable

import pandas as pd

from incugrowth.errors import IncugrowthWarning

__all__ = ["check_names", "likely_typos", "short_conditions"]

#: Plate-map columns whose names are compared with each other.
NAME_COLUMNS = ("cell_line", "treatment")

#: Largest number of letters by which a name may differ from another to be taken as its typo
#: (one for short names, where two letters make another word: "M420" and "M460").
MAX_EDITS = 2
SHORT_NAME = 6


def _key(name: str) -> str:
    """The name without case, spaces, hyphens and punctuation."""
    return re.sub(r"[\W_]+", "", str(name).casefold())


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions; a swap of neighbours
    counts as one)."""
    if a == b:
        return 0
    prev2: list[int] | None = None
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cost = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, prev2[j - 2] + 1)
            cur.append(cost)
        prev2, prev = prev, cur
    return prev[-1]


def _how(typo: str, meant: str) -> str | None:
    """How ``typo`` differs from ``meant``, or None when the two are not one name typed two
    ways. Names whose digits differ ("JAK1-KO", "JAK2-KO"; "M407", "M420") are different
    names, not typos."""
    if typo == meant:
        return None
    if re.sub(r"\D", "", typo) != re.sub(r"\D", "", meant):
        return None
    a, b = _key(typo), _key(meant)
    if a == b:
        if typo.casefold() == meant.casefold():
            return "they differ only in case"
        return "they differ only in case, spaces or punctuation"
    if _one_short_word_apart(typo, meant):  # "Drug A" and "Drug B", "siRNA 1a" and "1b"
        return None
    limit = 1 if min(len(a), len(b)) < SHORT_NAME else MAX_EDITS
    n = _edits(a, b)
    if n <= limit:
        return f"they differ by {n} letter{'s' if n > 1 else ''}"
    return None


def _one_short_word_apart(a: str, b: str) -> bool:
    """Whether the names differ in one word only, of at most two letters in both: such a
    word is a label ("A", "B"), not a typo.

    Examples
    --------
    >>> _one_short_word_apart("Drug A", "Drug B"), _one_short_word_apart("IFN gama", "IFN gamma")
    (True, False)
    """
    words_a, words_b = re.split(r"[\s_-]+", a.casefold()), re.split(r"[\s_-]+", b.casefold())
    if len(words_a) != len(words_b):
        return False
    apart = [(x, y) for x, y in zip(words_a, words_b) if x != y]
    return len(apart) == 1 and max(len(apart[0][0]), len(apart[0][1])) <= 2


def _wells_text(wells: list[str], limit: int = 8) -> str:
    shown = ", ".join(wells[:limit])
    more = f" and {len(wells) - limit} more" if len(wells) > limit else ""
    return f"well{'s' if len(wells) > 1 else ''} {shown}{more}"


def likely_typos(
    plate: pd.DataFrame, *, control: str | None = None, columns: Iterable[str] = NAME_COLUMNS
) -> pd.DataFrame:
    """Names of a plate-map column that look like a mistyped form of another of its names.

    A name is taken for a typo of another when the two are the same apart from case, spaces,
    hyphens and punctuation, or differ by one or two letters (one for names under six
    letters), their digits are the same, and the name is on fewer wells than the other (or
    the other is the ``control``). Names of the same column are compared; the control is
    compared with every treatment.

    Parameters
    ----------
    plate : pandas.DataFrame
        A plate map table (``well`` and the ``columns``).
    control : str, optional
        The control treatment, taken as the intended name where it is one of a pair.
    columns : iterable of str
        The columns to check (those absent are skipped).

    Returns
    -------
    pandas.DataFrame
        One row a suspect name: ``column``, ``name``, ``wells`` (list), ``likely``, ``n_likely``
        (wells of the likely name), ``how`` (in words).

    Examples
    --------
    >>> plate = pd.DataFrame({"well": ["A1", "A2", "A3", "B1", "B2", "B3"],
    ...                       "treatment": ["untreated", "untreated", "Untreated",
    ...                                     "IFN gamma", "IFN gamma", "IFN gama"]})
    >>> likely_typos(plate, control="untreated")[["name", "wells", "likely", "how"]]
            name wells     likely                        how
    0  Untreated  [A3]  untreated  they differ only in case
    1   IFN gama  [B3]  IFN gamma  they differ by 1 letter
    """
    rows = []
    for column in columns:
        if column not in plate.columns:
            continue
        names = plate[["well", column]].dropna()
        names = names[names[column].astype(str).str.strip() != ""]
        wells = names.groupby(names[column].astype(str), sort=False)["well"].apply(list)
        count = wells.map(len)
        for name in wells.index:
            best = None
            for other in wells.index:
                how = _how(name, other)
                if how is None:
                    continue
                meant_control = column == "treatment" and other == control
                if not (count[name] < count[other] or meant_control) or name == control:
                    continue
                rank = (not meant_control, -count[other])
                if best is None or rank < best[0]:
                    best = (rank, other, how)
            if best is not None:
                _, other, how = best
                rows.append((column, name, wells[name], other, int(count[other]), how))
    columns_out = ["column", "name", "wells", "likely", "n_likely", "how"]
    return pd.DataFrame(rows, columns=columns_out)


def _condition_text(key, keys: list[str], units: dict, multi: set) -> str:
    """'M420 IFN gamma', with the dose when the treatment has several ('... 10 ng/ml')."""
    named = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
    parts = [str(named[k]) for k in keys if k != "dose"]
    dose = named.get("dose")
    if dose is not None and dose == dose and named.get("treatment") in multi:
        unit = units.get(key)
        parts.append(f"{dose:g}" + (f" {unit}" if isinstance(unit, str) and unit else ""))
    return " ".join(parts)


def short_conditions(plate: pd.DataFrame, *, typos: pd.DataFrame | None = None) -> pd.DataFrame:
    """Conditions (cell line x treatment x dose) with fewer wells than most conditions.

    Names found by :func:`likely_typos` are counted under their likely name first, so that a
    typo is reported once, as a typo, and not again as the short condition it leaves behind.

    Returns
    -------
    pandas.DataFrame
        ``condition`` (in words), ``wells`` (list), ``n_wells``, ``usual`` (the most common
        number of wells per condition).

    Examples
    --------
    >>> plate = pd.DataFrame({"well": ["A1", "A2", "A3", "B1", "B2", "C1", "C2", "C3"],
    ...                       "cell_line": "M420",
    ...                       "treatment": ["untreated"] * 3 + ["IFN beta"] * 2
    ...                                    + ["IFN gamma"] * 3})
    >>> short_conditions(plate)
           condition     wells  n_wells  usual
    0  M420 IFN beta  [B1, B2]        2      3
    """
    out_columns = ["condition", "wells", "n_wells", "usual"]
    keys = [c for c in ("cell_line", "treatment", "dose") if c in plate.columns]
    if "treatment" not in keys:
        return pd.DataFrame(columns=out_columns)
    sub = plate.dropna(subset=["treatment"]).copy()
    for row in (typos if typos is not None else pd.DataFrame()).itertuples():
        sub.loc[sub[row.column].astype(str) == row.name, row.column] = row.likely
    groups = sub.groupby(keys, sort=False, dropna=False)["well"].apply(list)
    n = groups.map(len)
    if len(n) < 2:
        return pd.DataFrame(columns=out_columns)
    usual = int(n.mode().max())
    units = {}
    if "dose_unit" in sub.columns:
        units = sub.groupby(keys, sort=False, dropna=False)["dose_unit"].first().to_dict()
    multi = set()
    if "dose" in keys:
        doses = sub.groupby("treatment")["dose"].nunique()
        multi = set(doses[doses > 1].index)
    rows = [
        (_condition_text(key, keys, units, multi), wells, len(wells), usual)
        for key, wells in groups.items()
        if len(wells) < usual
    ]
    return pd.DataFrame(rows, columns=out_columns)


def check_names(plate: pd.DataFrame, *, control: str | None = None, path=None) -> list[str]:
    """Warn about likely typos of plate-map names and about conditions with fewer wells.

    Each problem is one :class:`~incugrowth.errors.IncugrowthWarning` naming the wells and,
    for a typo, the name probably meant. The plate map is not changed: a name is the
    user's to correct.

    Returns
    -------
    list of str
        The warnings issued.

    Examples
    --------
    >>> plate = pd.DataFrame({"well": ["A1", "A2", "A3", "B1", "B2", "B3"],
    ...                       "cell_line": "M420",
    ...                       "treatment": ["untreated"] * 2 + ["Untreated"] + ["IFN beta"] * 3})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     texts = check_names(plate, control="untreated", path="plate_map.csv")
    >>> print(texts[0])
    plate_map.csv: treatment 'Untreated' (well A3) looks like a typo of 'untreated' (2 wells; \
they differ only in case): it is analysed as a treatment of its own; correct the plate map \
if 'untreated' is meant
    """
    from pathlib import Path

    prefix = "plate map: " if path is None else f"{Path(path).name}: "
    typos = likely_typos(plate, control=control)
    texts = []
    for row in typos.itertuples():
        what = "cell line" if row.column == "cell_line" else row.column.replace("_", " ")
        texts.append(
            f"{prefix}{what} {row.name!r} ({_wells_text(row.wells)}) looks like a typo of "
            f"{row.likely!r} ({row.n_likely} well{'s' if row.n_likely > 1 else ''}; {row.how}): "
            f"it is analysed as a {what} of its own; correct the plate map if {row.likely!r} "
            "is meant"
        )
    short = short_conditions(plate, typos=typos)
    if len(short):
        listed = "; ".join(
            f"{r.condition}: {r.n_wells} ({', '.join(r.wells)})" for r in short.head(8).itertuples()
        )
        more = f"; and {len(short) - 8} more" if len(short) > 8 else ""
        usual = int(short["usual"].iloc[0])
        texts.append(
            f"{prefix}{len(short)} condition{'s have' if len(short) > 1 else ' has'} fewer "
            f"wells than the usual {usual}: {listed}{more}; check the plate map for a missing "
            "or misnamed well (their means and tests rest on fewer wells)"
        )
    for text in texts:
        warnings.warn(text, IncugrowthWarning, stacklevel=2)
    return texts
