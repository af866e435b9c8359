"""The facts partitions return to a partitioned build's driver, kept in a file until the driver's
listing pages and exports have read them.

Some facts are large (an article's data rows hold its whole text): held in memory, every
partition's would make the driver's memory grow with the archive (6.3 GB at 100,000 articles).
They are written to an SQLite file as each partition's result arrives, read back one article
at a time in the order the exports write them, and the file is removed with the build.
"""

from __future__ import annotations

import itertools
import pickle
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_MISSING = object()


class FactStore:
    """{article URL: {fact name: value}}, on disk: `add` a partition's facts, read them back
    in the order the exports write them (`each`)."""

    def __init__(self, folder: Path | None = None):
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
        self._folder = tempfile.TemporaryDirectory(prefix="broadsheet-facts-", dir=folder)
        # A scratch file for one build: nothing to recover after a crash, so no journal and no sync.
        self._db = sqlite3.connect(Path(self._folder.name, "facts.sqlite"), isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("PRAGMA temp_store=MEMORY")
        # Rows in the order they came (a partition's articles together, as the exports read
        # them); the index finds one by name and URL without reading the values in between.
        self._db.execute("CREATE TABLE facts (url TEXT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL)")
        self._db.execute("CREATE UNIQUE INDEX by_name ON facts (name, url)")
        self._wanted = itertools.count()
        self._closed = weakref.finalize(self, _close, self._db, self._folder)

    def add(self, facts: dict[str, dict[str, Any]]) -> None:
        """Keep the facts of some articles (a later value of the same article and name wins)."""
        rows = ((url, name, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
                for url in facts for name, value in facts[url].items())
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO facts VALUES (?, ?, ?)", rows)

    def each(self, urls: Iterable[str], name: str, default: Any = _MISSING) -> Iterator[Any]:
        """The fact `name` of each of `urls`, in their order; KeyError for one that has none
        unless a `default` is given. One statement for all of them: a query per article cost
        more than the rows it read."""
        table = f"wanted_{next(self._wanted)}"
        self._db.execute(f"CREATE TEMP TABLE {table} (position INTEGER PRIMARY KEY, url TEXT NOT NULL)")
        rows = None
        try:
            self._db.executemany(f"INSERT INTO {table} (url) VALUES (?)", ((url,) for url in urls))
            rows = self._db.execute(f"SELECT w.url, f.value FROM {table} w LEFT JOIN facts f"
                                    " ON f.name = ? AND f.url = w.url ORDER BY w.position", (name,))
            for url, value in rows:
                if value is not None:
                    yield pickle.loads(value)
                elif default is _MISSING:
                    raise KeyError(f"{url}: no fact {name!r}")
                else:
                    yield default
        finally:
            if rows is not None:
                rows.close()
            self._db.execute(f"DROP TABLE {table}")

    def named(self, name: str) -> Iterator[tuple[str, Any]]:
        """(URL, value) of every article that has the fact `name`, by URL."""
        for url, value in self._db.execute("SELECT url, value FROM facts WHERE name = ? ORDER BY url", (name,)):
            yield url, pickle.loads(value)

    def close(self) -> None:
        self._closed()


def _close(db: sqlite3.Connection, folder: tempfile.TemporaryDirectory) -> None:
    db.close()
    folder.cleanup()
