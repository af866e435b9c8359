"""deposit: RO-Crate, Frictionless Data Package, Dublin Core CSV and TEI P5 files (see plugin.py)."""

from .plugin import register

__all__ = ["register"]
