"""Offline (zip) settings: the site opened from disk, with no server and no network.

Builds on pelicanconf.py. Every link is relative, every link to a folder names its
`index.html` (from disk a folder link opens a file listing), there are no feeds and no
absolute URLs. `broadsheet.archive.offline` builds with these settings and
`broadsheet.archive.verify` checks the promise.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pelicanconf import *  # noqa: E402,F401,F403

SITEURL = ""
RELATIVE_URLS = True
FEED_DOMAIN = None
FEED_ALL_ATOM = FEED_ALL_RSS = FEED_ATOM = FEED_RSS = None
CATEGORY_FEED_ATOM = CATEGORY_FEED_RSS = TAG_FEED_ATOM = TAG_FEED_RSS = None
TRANSLATION_FEED_ATOM = TRANSLATION_FEED_RSS = AUTHOR_FEED_ATOM = AUTHOR_FEED_RSS = None
INDEX_SAVE_AS = "index.html"

#: Spells out links that templates still write as folders (`{{ SITEURL }}/` -> `./index.html`).
PLUGINS = [*PLUGINS, "offline_links"]  # noqa: F405
#: Pelican's signals outlive a build in the same process, so plugins act only when their
#: settings say so: offline_links here, never the hosted site's sitemap or compressed copies.
OFFLINE_LINKS = True
PRECOMPRESS_GZIP = PRECOMPRESS_BROTLI = PRECOMPRESS_ZOPFLI = PRECOMPRESS_ZSTANDARD = False


def _spell_out_index(url):
    return url + "index.html" if isinstance(url, str) and url.endswith("/") else url


# URL patterns that other settings files may set to folders (`2016/`) name the file instead.
for _name in [n for n in list(globals()) if n.endswith("_URL")]:
    globals()[_name] = _spell_out_index(globals()[_name])
if "PAGINATION_PATTERNS" in globals():
    PAGINATION_PATTERNS = [(n, _spell_out_index(url), save_as) for n, url, save_as in PAGINATION_PATTERNS]  # noqa: F405
