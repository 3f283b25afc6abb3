"""The calibration page served at ``/``: plain HTML and a small script, no build step."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def page_html() -> str:
    """The page's HTML (``sciml/serve/static/index.html``)."""
    return resources.files("sciml.serve").joinpath("static/index.html").read_text(encoding="utf-8")
