"""Corpus page, date archive, signature pages, citations and data downloads (see plugin.py)."""

from .plugin import register

__all__ = ["register"]
