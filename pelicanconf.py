"""Local build settings: relative URLs, no feeds, everything works from localhost.

The hosted variant is publishconf.py; the offline (zip) variant builds on this file.
Site-wide choices live here and code reads them: the source's timezone and name,
the URL pattern, the Markdown extensions (none, so scraped text stays literal).
"""

import os
import sys

# Plugins import the `broadsheet` package that sits beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SITENAME = "Broadsheet archive"
SITESUBTITLE = "Al-Alam English news pages, 2013-2017, as scraped"
AUTHOR = ""
SITEURL = ""
RELATIVE_URLS = True

PATH = "content"
THEME = "theme"
PLUGIN_PATHS = ["plugins"]
PLUGINS = ["pelican.plugins.yaml_metadata", "archive_pages", "related_graph", "search_index", "facets"]

#: The outlet's local time: datelines and the ticks in related pics are read in it.
SOURCE_TIMEZONE = "Asia/Tehran"
#: The outlet, for citations (`citation_journal_title`, DC.publisher).
SOURCE_NAME = "Al-Alam News Network (English)"
TIMEZONE = SOURCE_TIMEZONE
DEFAULT_LANG = "en"
DEFAULT_DATE_FORMAT = "%a %d %b %Y %H:%M:%S"

ARTICLE_URL = "{date:%Y}/{date:%m}/{slug}.html"
ARTICLE_SAVE_AS = ARTICLE_URL
PAGE_URL = "pages/{slug}.html"
PAGE_SAVE_AS = PAGE_URL
DEFAULT_PAGINATION = 20

# Scraped text must stay literal: no Markdown extensions (tables, footnotes, smartypants).
MARKDOWN = {"extensions": [], "output_format": "html5"}
READERS = {"html": None, "htm": None, "rst": None}
IGNORE_FILES = [".*"]
STATIC_PATHS = []

FEED_ALL_ATOM = None
CATEGORY_FEED_ATOM = None
TRANSLATION_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
DELETE_OUTPUT_DIRECTORY = False
LOAD_CONTENT_CACHE = False

# facets plugin: a page per outlet and per facet value of table rows (location, label).
FACET_URL = "facets/{facet}/{slug}.html"
FACETS_SAVE_AS = "facets/index.html"
#: The facets whose counts the corpus page shows.
FACETS_ON_CORPUS = ["outlet", "label"]
