"""A page per outlet and per facet value, with counts (see facets.py)."""

from .facets import register

__all__ = ["register"]
