"""Figures into the page: inline SVG, base64 PNG, and copies saved in ``figures/``."""

from __future__ import annotations

import base64
import io
import itertools
import re
from pathlib import Path

_ID_RE = re.compile(r'(\bid=")([^"]+)(")')
_REF_RE = re.compile(r'(url\(#|href="#)([^)"]+)')


def _svg_text(fig) -> str:
    import matplotlib as mpl

    from incugrowth.plots import STYLE

    buf = io.StringIO()
    with mpl.rc_context(STYLE):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _inline_svg(text: str, prefix: str) -> str:
    """An SVG document as an inline ``<svg>`` element, its ids made unique within the page."""
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = _ID_RE.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}{m.group(3)}", text)
    return _REF_RE.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)


def _png_data_uri(fig, dpi: int = 150) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class _Figures:
    """Turns figures into page markup and saves them into ``figures/``."""

    def __init__(self, figdir: Path, save: bool):
        self.figdir = figdir
        self.save = save
        self.saved: list[Path] = []
        self._n = itertools.count(1)

    def svg(self, fig, stem: str | None, *, overwrite: bool = True) -> str:
        saved = self._save(fig, stem, overwrite)
        # Drawing is the slow part: reuse the SVG file just saved rather than draw again.
        text = saved.read_text(encoding="utf-8") if saved is not None else _svg_text(fig)
        return _inline_svg(text, f"f{next(self._n)}")

    def png(self, fig, stem: str | None) -> str:
        self._save(fig, stem, True)
        return _png_data_uri(fig)

    def _save(self, fig, stem, overwrite) -> Path | None:
        """Save ``fig`` in every format; the SVG path, or None when nothing was saved."""
        if not self.save or stem is None:
            return None
        if not overwrite and (self.figdir / f"{stem}.png").exists():
            return None
        from incugrowth.plots import save_figure

        paths = save_figure(fig, self.figdir / stem)
        self.saved += paths
        return next((p for p in paths if p.suffix == ".svg"), None)
