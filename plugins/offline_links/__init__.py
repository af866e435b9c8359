"""Offline builds: every relative link to a folder names the folder's `index.html`.

Opened from disk, `href="../"` shows a file listing instead of the page. Themes should
spell `index.html` out themselves; this plugin (enabled by offlineconf.py's OFFLINE_LINKS) catches
what they miss, so the zip keeps its promise whatever the templates do.
"""

from __future__ import annotations

import re
from pathlib import Path

from pelican import signals

#: A relative href/src whose path is a folder: `./`, `../`, `2016/`, `.`, `..`, with an optional ?query or #fragment.
FOLDER_LINK = re.compile(
    r"""(?P<attr>\b(?:href|src)=)(?P<q>["'])(?P<path>(?![a-zA-Z][a-zA-Z0-9+.-]*:|/|#)(?:[^"'?#]*/|\.{1,2}))(?P<rest>[?#][^"']*)?(?P=q)"""
)


def spell_out_folder_links(html: str) -> str:
    def repl(m: re.Match) -> str:
        path = m.group("path")
        path = path + "/index.html" if path in (".", "..") else path + "index.html"
        return f"{m.group('attr')}{m.group('q')}{path}{m.group('rest') or ''}{m.group('q')}"

    return FOLDER_LINK.sub(repl, html)


def rewrite_written_file(path: str, context) -> None:
    # Signals stay connected after an offline build in the same process: act only in one.
    if not (context or {}).get("OFFLINE_LINKS") or not path.endswith((".html", ".htm")):
        return
    file = Path(path)
    html = file.read_text(encoding="utf-8")
    fixed = spell_out_folder_links(html)
    if fixed != html:
        file.write_text(fixed, encoding="utf-8")


def register():
    signals.content_written.connect(rewrite_written_file)
