"""Numba compilation of the image module's loops: cached on disk where possible, inlined or not.

The loops are compiled on first use and cached on disk (numba's ``cache=True``), so only the
first call of a new installation pays the compilation (about 20 s for all of them; batch
counting does it once before its workers start, see
:func:`incugrowth.image.measure.prepare`).
"""

from __future__ import annotations

import numba

__all__ = ["compiled", "inline"]


def _jit(**options):
    """``numba.njit`` with a disk cache, or without one where numba finds no writable place
    for it (a read-only installation with an unwritable home): then each process compiles
    on first use."""

    def decorate(function):
        try:
            return numba.njit(cache=True, nogil=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(nogil=True, **options)(function)

    return decorate


compiled = _jit()
inline = _jit(inline="always")
