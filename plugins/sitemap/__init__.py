"""`sitemap.xml` for the hosted site: every article, page and the home page, absolute URLs.

`lastmod` is the article's own date (its `modified` when set), never the build time, so
an unchanged archive gives an unchanged sitemap. Written where publishconf.py's SITEMAP_SAVE_AS says.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from pelican import signals

from broadsheet import partitioned


def sitemap_entries(siteurl: str, articles, pages) -> list[tuple[str, str | None]]:
    entries: list[tuple[str, str | None]] = [(f"{siteurl}/", None)]
    for item in sorted([*articles, *pages], key=lambda c: c.url):
        when = getattr(item, "modified", None) or getattr(item, "date", None)
        entries.append((f"{siteurl}/{item.url}", when.isoformat() if when else None))
    return entries


def render_sitemap(entries: list[tuple[str, str | None]]) -> str:
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    for loc, lastmod in entries:
        mod = f"<lastmod>{escape(lastmod)}</lastmod>" if lastmod else ""
        lines.append(f"<url><loc>{escape(loc)}</loc>{mod}</url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def write_sitemap(article_generator, page_generator) -> None:
    settings = article_generator.settings
    if not settings.get("SITEMAP_SAVE_AS") or partitioned.is_partition(settings):
        return  # signals outlive a hosted build in the same process: other builds get no sitemap
    entries = sitemap_entries(settings.get("SITEURL", ""), article_generator.articles, page_generator.pages)
    target = Path(settings["OUTPUT_PATH"]) / settings["SITEMAP_SAVE_AS"]
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render_sitemap(entries)
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


def register():
    signals.all_generators_finalized.connect(_on_generators_finalized)


def _on_generators_finalized(generators) -> None:
    from pelican.generators import ArticlesGenerator, PagesGenerator

    articles = next(g for g in generators if isinstance(g, ArticlesGenerator))
    pages = next(g for g in generators if isinstance(g, PagesGenerator))
    write_sitemap(articles, pages)
