"""Local build settings: relative URLs, no feeds, everything works from localhost.

The hosted variant is publishconf.py; the offline (zip) variant builds on this file.
Site-wide choices live here and code reads them: the source's timezone and name,
the URL pattern, the Markdown extensions (none, so scraped text stays literal).
"""

import os
import sys

# Plugins import the `broadsheet` package that sits beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from broadsheet.ordering import newest_first  # noqa: E402
from broadsheet.versions import VERSIONS_PATTERN  # noqa: E402

SITENAME = "Broadsheet archive"
SITESUBTITLE = "Al-Alam English news pages, 2013-2017, as scraped"
AUTHOR = ""
SITEURL = ""
RELATIVE_URLS = True

PATH = "content"
THEME = "theme"
PLUGIN_PATHS = ["plugins"]
#: deposit reads what archive_pages and related_graph computed: it comes after them; versions
#: reads archive_pages' display.
#: partitioned comes last: in a partitioned build it acts once the others have their context.
PLUGINS = ["yaml_reader", "archive_pages", "related_graph", "deposit", "search_index", "facets", "versions",
           "unchanged_pages", "partitioned"]

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
#: Newest first, and articles of one date by URL: never in the order files happened to be read.
ARTICLE_ORDER_BY = newest_first
#: Pelican's date list (`dates`) sorts by date alone and keeps ARTICLE_ORDER_BY's order for ties.
NEWEST_FIRST_ARCHIVES = True
#: Two articles may share a slug across months; they are distinct articles, not translations.
ARTICLE_TRANSLATION_ID = None
# Every article has the one default category and no author: no pages for them.
CATEGORY_SAVE_AS = CATEGORIES_SAVE_AS = AUTHOR_SAVE_AS = AUTHORS_SAVE_AS = ""
TAG_URL = "tag/{slug}.html"
TAG_SAVE_AS = TAG_URL
TAGS_SAVE_AS = "tags.html"
ARCHIVES_SAVE_AS = "archives.html"

# archive_pages plugin: corpus page, date archive, signatures, citations, data downloads.
#: The ingest report shown on the corpus page (missing: the page says so).
INGEST_REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reports", "ingest.json")
CORPUS_SAVE_AS = "corpus.html"
SIGNATURES_SAVE_AS = "signatures.html"
SIGNATURE_URL = "signature/{slug}.html"
ARCHIVE_DAY_URL = "archive/{date:%Y}/{date:%m}/{date:%d}/index.html"
ARCHIVE_MONTH_URL = "archive/{date:%Y}/{date:%m}/index.html"
ARCHIVE_YEAR_URL = "archive/{date:%Y}/index.html"
DATA_JSONL_SAVE_AS = "data/articles.jsonl"
DATA_CSV_SAVE_AS = "data/articles.csv"
#: An article slug longer than this (UTF-8 bytes) is cut and given a hash, so no path
#: component comes near the filesystem's 255-byte limit.
SLUG_MAX_BYTES = 120

#: Partitioned builds (broadsheet/partitions.py): no Pelican run renders more articles than this
#: (a year per run, a month of a year with more, a day of such a month), which bounds each run's
#: memory (10,000 articles took 1.1 GiB in one run).
#: BROADSHEET_PARTITION_MAX_ARTICLES sets it for one run (the tests cut small archives finely).
PARTITION_MAX_ARTICLES = int(os.environ.get("BROADSHEET_PARTITION_MAX_ARTICLES") or 5000)
#: Builds are partitioned (broadsheet/partitioned.py): a driver run over the front matter, a
#: Pelican run per partition on the engine. The output is the same either way.
PARTITIONED_BUILD = True

# Every scraped string is text: templates escape by default.
JINJA_ENVIRONMENT = {"trim_blocks": True, "lstrip_blocks": True, "extensions": [], "autoescape": True}

# Scraped text must stay literal: no Markdown extensions (tables, footnotes, smartypants).
MARKDOWN = {"extensions": [], "output_format": "html5"}
READERS = {"html": None, "htm": None, "rst": None}
# An article's earlier versions (content/YYYY/MM/<slug>.versions/N.md) are not articles:
# plugins/versions reads them beside each article.
IGNORE_FILES = [".*", VERSIONS_PATTERN]
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

# related_graph plugin: resolving the outlet's related lists to archive articles.
#: rapidfuzz ratio (0-100) a title must reach to match an archive title it does not equal.
RELATED_GRAPH_FUZZY_THRESHOLD = 90
#: A runner-up this many points from the best fuzzy match is a tie: the entry stays unresolved.
RELATED_GRAPH_FUZZY_TIE_MARGIN = 2.0
#: Fuzzy candidates: archive articles dated this many days around the entry's estimated date.
RELATED_GRAPH_DATE_WINDOW_DAYS = 3
#: Resolution statistics and contradictions (JSON), written at every build.
RELATED_GRAPH_REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reports", "graph.json")
RELATED_GRAPH_SAVE_AS = "graph.html"
#: graph.json, graph.gexf and graph.graphml go here, under the output folder.
RELATED_GRAPH_DATA_DIR = "data"
#: The graph page's data, loaded by a <script> tag so that the page works from file://.
RELATED_GRAPH_PAGE_DATA = "data/graph-page.js"
#: Above this many nodes the graph page lays nodes out on a timeline instead of by force.
RELATED_GRAPH_FORCE_LAYOUT_MAX_NODES = 1000
RELATED_GRAPH_NEIGHBOURHOOD_MAX_NODES = 20

# versions plugin: an article's earlier versions (content/YYYY/MM/<slug>.versions/N.md).
#: Each earlier version's page; {stem} is the article's page without `.html`.
VERSION_URL = "{stem}/v{number}.html"
#: The article's TimeMap (RFC 7089, application/link-format).
TIMEMAP_URL = "{stem}/timemap.link"
VERSIONS_JSONL_SAVE_AS = "data/versions.jsonl"
#: How many of the most edited articles the corpus page lists.
VERSIONS_MOST_EDITED = 10
