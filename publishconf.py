"""Hosted settings: output ready to upload to SITEURL.

Builds on pelicanconf.py: absolute canonical URLs, Atom feeds, a sitemap, and optional
pre-compressed siblings (`page.html.gz`, ...) for servers that serve them directly.
`invoke build --settings hosted --siteurl URL [--precompress]` sets SITEURL and
BROADSHEET_PRECOMPRESS; both can also come from the environment.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pelicanconf import *  # noqa: E402,F401,F403

SITEURL = os.environ.get("SITEURL", "").rstrip("/")
RELATIVE_URLS = False

FEED_ALL_ATOM = "feeds/all.atom.xml"
CATEGORY_FEED_ATOM = "feeds/{slug}.atom.xml"
#: Feeds list the newest articles only; the archive pages list them all.
FEED_MAX_ITEMS = 50

PLUGINS = [*PLUGINS, "sitemap"]  # noqa: F405
SITEMAP_SAVE_AS = "sitemap.xml"

#: Write `.gz` (and `.br`, `.zst` when those modules are installed) next to text files.
PRECOMPRESS = os.environ.get("BROADSHEET_PRECOMPRESS", "").lower() in ("1", "true", "yes", "on")
if PRECOMPRESS:
    PLUGINS.append("pelican.plugins.precompress")
