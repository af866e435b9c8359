"""Where an article's page goes: the URL and file Pelican gives it, from the settings.

The catalog computes every page's URL before any Pelican run, so it must agree with Pelican
and the plugins on it: the URL patterns (ARTICLE_URL, ARTICLE_SAVE_AS and their LANG_ and DRAFT_
variants, or the article's own `url` / `save_as`) and the slug, cut to SLUG_MAX_BYTES by the
archive_pages plugin, which imports `shorten_slug` from here.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

#: The settings `article_paths` reads, and nothing else: what a worker is sent.
URL_SETTINGS = ("DEFAULT_LANG", "TIMEZONE", "SLUG_MAX_BYTES",
                "ARTICLE_URL", "ARTICLE_SAVE_AS", "ARTICLE_LANG_URL", "ARTICLE_LANG_SAVE_AS",
                "DRAFT_URL", "DRAFT_SAVE_AS", "DRAFT_LANG_URL", "DRAFT_LANG_SAVE_AS")


def url_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {name: settings.get(name) for name in URL_SETTINGS}


def shorten_slug(slug: str, max_bytes: int) -> str:
    """`slug` if it fits in `max_bytes` of UTF-8, else a cut at a character boundary plus a hash."""
    if len(slug.encode("utf-8")) <= max_bytes:
        return slug
    digest = hashlib.sha256(slug.encode("utf-8")).hexdigest()[:8]
    room = max_bytes - len(digest) - 1
    cut = slug.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip("-")
    return f"{cut}-{digest}"


def page_slug(slug: str, settings: dict[str, Any]) -> str:
    """The slug the article's page is named with (archive_pages cuts long ones)."""
    limit = settings.get("SLUG_MAX_BYTES")
    return shorten_slug(slug, int(limit)) if limit else slug


def article_paths(metadata: dict[str, Any], slug: str, date: datetime, settings: dict[str, Any]) -> tuple[str, str]:
    """(url, save_as) of an article's page, as Pelican's `Content.get_url_setting` makes them:
    the article's own `url` / `save_as` when it has them, else the pattern for its status
    (draft or not) and language (the default or not), formatted with its metadata."""
    lang = metadata.get("lang") or settings["DEFAULT_LANG"]
    kind = "DRAFT" if str(metadata.get("status", "")).strip() == "draft" else "ARTICLE"
    variant = "" if lang == settings["DEFAULT_LANG"] else "LANG_"
    fields = {**metadata, "slug": slug, "date": date, "lang": lang}
    url, save_as = (metadata.get(key) or settings[f"{kind}_{variant}{key.upper()}"].format(**fields)
                    for key in ("url", "save_as"))
    return str(url), str(save_as)
