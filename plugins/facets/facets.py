"""facets: a page per outlet and per facet value (location, label, ...), with counts.

Table rows carry `outlet` and `facets` in their front matter (see broadsheet.tables); dumps
usually carry neither and are simply not listed. The plugin gathers every published
article's values once, after the context is complete, and writes:

- `FACET_URL` per value (default `facets/{facet}/{slug}.html`): the articles with that value,
  oldest first, and the dataset's definition of the value when the mapping gives one
  (FA-KES: what `credible` and `fake` mean);
- `FACETS_SAVE_AS` (default `facets/index.html`): every facet, its values and their counts.

Templates get `facet_index` (every facet, values sorted by count) and `facet_datasets` (the
published datasets the articles come from, with their citation); the corpus page's
`partials/corpus_facets.html` shows the facets named in `FACETS_ON_CORPUS`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pelican import signals
from pelican.generators import Generator
from slugify import slugify

from broadsheet import partitioned
from broadsheet.article import Article
from broadsheet.links import checked_url
from broadsheet.ordering import oldest_first

log = logging.getLogger(__name__)

#: The outlet is a front-matter field of its own, shown as a facet under this name.
OUTLET = "outlet"
DEFAULTS = {
    "FACET_URL": "facets/{facet}/{slug}.html",
    "FACETS_SAVE_AS": "facets/index.html",
    "FACETS_ON_CORPUS": [OUTLET, "label"],
}


@dataclass
class FacetValue:
    facet: str
    value: str
    url: str = ""
    definition: str | None = None
    articles: list = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.articles)


@dataclass
class Facet:
    name: str
    title: str
    values: list[FacetValue] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(v.count for v in self.values)


def facet_title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def article_facets(record: Article) -> dict[str, str]:
    """The facet values of one article: its outlet and its `facets`, as text."""
    values = {OUTLET: record.outlet} if record.outlet else {}
    values.update({str(k): str(v) for k, v in record.facets.items() if v not in (None, "")})
    return values


def collect(records: list[tuple[Any, Article]], url_pattern: str) -> tuple[list[Facet], list[dict]]:
    """Group articles by facet value. `records` pairs each Pelican article with its record.

    Returns the facets (outlet first, then by name; values by count, then name) and the
    distinct datasets cited by the articles, each with how many articles it gives.
    """
    groups: dict[str, dict[str, FacetValue]] = {}
    datasets: dict[str, dict] = {}
    for article, record in records:
        definitions = ((record.dataset or {}).get("definitions") or {})
        for name, value in article_facets(record).items():
            entry = groups.setdefault(name, {}).setdefault(value, FacetValue(name, value))
            entry.articles.append(article)
            if entry.definition is None:
                entry.definition = (definitions.get(name) or {}).get(value)
        if record.dataset:
            key = str(record.dataset.get("doi") or record.dataset.get("title"))
            datasets.setdefault(key, {"key": key, "dataset": dataset_view(record.dataset, "", {}),
                                     "count": 0})["count"] += 1

    facets = []
    for name in sorted(groups, key=lambda n: (n != OUTLET, n)):
        facet = Facet(name, facet_title(name))
        used: set[str] = set()
        for entry in sorted(groups[name].values(), key=lambda v: (v.value.casefold(), v.value)):
            slug = slugify(entry.value) or "value"
            if slug in used:  # `Homs` and `homs`, or two scripts that transliterate alike
                slug = f"{slug}-{len(used)}"
                log.warning("facets: %s values %r share a slug; using %r", name, entry.value, slug)
            used.add(slug)
            entry.url = url_pattern.format(facet=slugify(name) or "facet", slug=slug)
            entry.articles.sort(key=oldest_first)
            facet.values.append(entry)
        facet.values.sort(key=lambda v: (-v.count, v.value.casefold(), v.value))
        facets.append(facet)
    cited = sorted(datasets.values(), key=lambda d: (-d["count"], d["key"]))
    return facets, cited


def dataset_view(dataset: dict | None, where: str, rejected: dict[str, list[str]]) -> dict | None:
    """The dataset as pages show it: its `url` only when it may be a link (broadsheet.links);
    a rejected one moves to `url_as_text`, and `rejected` gathers it with the article's file."""
    if not dataset:
        return None
    url = checked_url(dataset.get("url"))
    if url is None or url.href is not None:
        return {**dataset, "url": url.href if url else None}
    rejected.setdefault(url.problem, []).append(where)
    return {**dataset, "url": None, "url_as_text": url.text}


def warn_rejected_urls(rejected: dict[str, list[str]], field: str) -> None:
    """One warning per rejected URL, naming the field, the first file and how many share it."""
    for problem, files in sorted(rejected.items()):
        more = f" (and {len(files) - 1} other article{'s' if len(files) > 2 else ''})" if len(files) > 1 else ""
        log.warning("%s%s: %s %s", files[0], more, field, problem)


def attach_to_articles(records: list[tuple[Any, Article]], facets: list[Facet]) -> None:
    """Give each article what its page shows about its table row: `facet_links` (facet title,
    value, page URL, definition), the `dataset` it comes from, and a `text_dateline`."""
    url_of = {(f.name, v.value): (f.title, v) for f in facets for v in f.values}
    rejected: dict[str, list[str]] = {}
    for article, record in records:
        article.facet_links = [
            {"facet": url_of[(name, value)][0], "value": value, "url": url_of[(name, value)][1].url,
             "definition": url_of[(name, value)][1].definition}
            for name, value in article_facets(record).items() if (name, value) in url_of
        ]
        article.dataset = dataset_view(record.dataset, _where(article), rejected)
        article.text_dateline = record.text_dateline
    warn_rejected_urls(rejected, "dataset.url")


def _where(article) -> str:
    return str(getattr(article, "relative_source_path", None) or getattr(article, "source_path", "?"))


class FacetsGenerator(Generator):
    """Reads the facet values once the articles are known; writes the facet pages."""

    def generate_context(self):
        for key, value in DEFAULTS.items():
            self.settings.setdefault(key, value)
        published = list(self.context.get("articles", []))
        records = [(a, Article.from_metadata(a.metadata)) for a in published]
        self.facets, datasets = collect(records, self.settings["FACET_URL"])
        attach_to_articles(records, self.facets)
        on_corpus = self.settings["FACETS_ON_CORPUS"]
        self.context["facet_index"] = self.facets
        self.context["facet_corpus"] = [f for name in on_corpus for f in self.facets if f.name == name]
        self.context["facet_datasets"] = datasets
        self.context["FACETS_SAVE_AS"] = self.settings["FACETS_SAVE_AS"]

    def generate_output(self, writer):
        if not self.facets:
            return
        relative = self.settings["RELATIVE_URLS"]
        index = self.settings["FACETS_SAVE_AS"]
        writer.write_file(index, self.get_template("facets"), self.context, relative_urls=relative, url=index)
        template = self.get_template("facet")
        for facet in self.facets:
            for value in facet.values:
                writer.write_file(value.url, template, self.context, relative_urls=relative,
                                  facet=facet, facet_value=value, url=value.url)


def get_generators(pelican):
    # A partition's articles get their facet links from the driver, which writes the pages.
    return None if partitioned.is_partition(pelican.settings) else FacetsGenerator


def register():
    signals.get_generators.connect(get_generators)
