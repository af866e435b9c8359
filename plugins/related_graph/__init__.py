"""Related-article graph: resolves every dump's related list to archive articles at build time.

See `plugin.py` for the Pelican wiring, `resolve.py` for the resolution rules and
`graph.py` for the exports and layouts.
"""

from .plugin import register

__all__ = ["register"]
