"""Broadsheet: a static archive of scraped news pages (see docs/CONTRIBUTING.md)."""

#: Named in the offline bag and part of every build cache key.
__version__ = "0.1.0"
