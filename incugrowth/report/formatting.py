"""Numbers, P values, sizes and lists as the report writes them."""

from __future__ import annotations

import math


def format_p(p) -> str:
    """A P value as GraphPad Prism writes it: ``<0.0001``, else at most 4 decimals.

    Trailing zeros are dropped; values that would round to 1 are ``>0.9999``.

    Examples
    --------
    >>> [format_p(p) for p in (0.00001, 0.0001234, 0.0042, 0.03876, 0.40612, 0.5)]
    ['<0.0001', '0.0001', '0.0042', '0.0388', '0.4061', '0.5']
    >>> [format_p(p) for p in (0.99994, 0.99996, 1.0, float("nan"), None)]
    ['0.9999', '>0.9999', '>0.9999', '', '']
    """
    try:
        p = float(p)
    except (TypeError, ValueError):
        return ""
    if p != p:
        return ""
    if p < 0.0001:
        return "<0.0001"
    text = f"{p:.4f}"
    if float(text) > 0.9999:
        return ">0.9999"
    return text.rstrip("0").rstrip(".")


def format_number(x, digits: int = 4) -> str:
    """``x`` to ``digits`` significant digits, never in scientific notation; blank for NaN.

    Examples
    --------
    >>> [format_number(v) for v in (1234.56, -123.456, 0.012345, 0, 7.0, float("nan"))]
    ['1235', '-123.5', '0.01235', '0', '7.000', '']
    """
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "" if x is None else str(x)
    if x != x:
        return ""
    if x == 0:
        return "0"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


def stars_for_p(p) -> str:
    """Significance summary of a P value: ``***`` (<0.001), ``**`` (<0.01), ``*`` (<0.05), ``NS``.

    Examples
    --------
    >>> [stars_for_p(p) for p in (0.0002, 0.004, 0.03, 0.2)]
    ['***', '**', '*', 'NS']
    """
    try:
        p = float(p)
    except (TypeError, ValueError):
        return ""
    if p != p:
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "NS"


def _human_size(n) -> str:
    try:
        n = float(n)
    except (TypeError, ValueError):
        return ""
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def _hours(h) -> str:
    return "" if h is None or h != h else f"{float(h):g} h"


def _plain(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "not set"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k} \u2192 {v}" for k, v in value.items()) or "none"
    return str(value)


def _list_text(items) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
