"""What Broadsheet reads of Pelican's private internals, in one place. Checked against Pelican
4.12.0 (requirements.txt pins it); `checked()` says whether the installed Pelican is that one and
still has what is read here, and tests/test_pelican_internals.py fails loudly when it is not.

Pelican memoizes `Content.get_content` and `Content.get_summary` (pelican.utils.memoized): the
cache is a dict on the decorator, one for the class, keyed by the content object itself, so it
holds every article rendered in the process for as long as the process lives. A Dask worker
renders partition after partition: without `forget_rendered_content` after each, it held every
article of every partition it had rendered (about 50 MB per 1,000 articles, 3.4 GB at 100,000).

Pelican names a generator's reader cache file `<generator class>-Readers` under CACHE_PATH
(pelican.generators): `has_reader_cache` says whether a build will read through it.
"""

from __future__ import annotations

import os
from importlib.metadata import version

#: The Pelican release this module was checked against.
PELICAN_CHECKED = "4.12.0"
_MEMOIZED = ("get_content", "get_summary")


def _caches() -> list[dict]:
    from pelican.contents import Content

    return [getattr(Content.__dict__.get(name), "cache", None) for name in _MEMOIZED]


def checked() -> bool:
    """Whether the installed Pelican is the one checked, with a memoized cache where expected."""
    return version("pelican") == PELICAN_CHECKED and all(isinstance(c, dict) for c in _caches())


def forget_rendered_content() -> None:
    """Drop Pelican's memoized content and summaries of every content object made so far: call
    it once a Pelican run is over in a process that goes on to other runs."""
    for cache in _caches():
        if isinstance(cache, dict):
            cache.clear()


def has_reader_cache(generator) -> bool:
    """Whether Pelican's reader cache will serve this generator's reads (a rebuild's)."""
    s = generator.settings
    return bool(s.get("LOAD_CONTENT_CACHE") and s.get("CONTENT_CACHING_LAYER") == "reader" and
                os.path.exists(os.path.join(s.get("CACHE_PATH") or "", f"{type(generator).__name__}-Readers")))
