"""versions: earlier versions of articles, their diffs, citations and TimeMaps (see plugin.py)."""

from .plugin import register

__all__ = ["register"]
