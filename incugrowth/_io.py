"""Atomic output: files are written under a temporary name and renamed, never left half-written."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from incugrowth.errors import input_error

__all__ = ["atomic_path", "read_input", "sha256", "write_csv", "write_json"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    If the body raises, the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); outputs get the permissions of a normal file.
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_csv(df: pd.DataFrame, path: str | os.PathLike, **kwargs) -> Path:
    """Write ``df`` to ``path`` atomically (no index by default)."""
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, **kwargs)
    return Path(path)


def write_json(obj, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
    return Path(path)


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_input(path: str | os.PathLike, *, expected: str, instead_of_excel: str) -> bytes:
    """The bytes of an input file, or a one-line error naming it and what to do.

    ``expected`` names the kind of file (for a folder given by mistake); ``instead_of_excel``
    says what to do when an Excel workbook was given.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise input_error(path, "file not found") from None
    except IsADirectoryError:
        raise input_error(path, f"is a folder, expected {expected}") from None
    except OSError as exc:
        raise input_error(path, f"cannot read the file ({exc.strerror})") from None
    if not data.strip():
        raise input_error(path, "the file is empty")
    if data.startswith(b"PK\x03\x04"):
        raise input_error(path, f"this is an Excel workbook; {instead_of_excel}")
    return data
