"""Reusing the previous build's files whose inputs did not change, so an incremental rebuild
renders only what a change touches.

Each output file reused this way is recorded with a key: a digest of everything that shapes it
(for an article page: the article's text, metadata and every value the plugins computed for it;
the build's settings, theme, plugins and code are covered by the rebuild's cache key, which
starts a fresh record when they change). When the previous build recorded the same key for the
same file and that file is still in the previous version, the file is hard-linked from there
instead of being rendered again: same bytes, same modification time. A key that cannot be
computed (a value with no stable form) means the file is rendered, never that it goes stale.

`invoke rebuild` turns this on with the REUSE_PREVIOUS setting; plain builds render everything.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import shutil
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

#: The setting `invoke rebuild` passes: {"previous": folder, "record": previous record, "save": new record}.
SETTING = "REUSE_PREVIOUS"
#: Attributes of a Pelican content object that are not its own inputs (the whole settings and
#: context: covered by the cache key, and far too large to digest for every page).
_SKIP_ATTRS = {"settings", "_context"}


class Unstable(ValueError):
    """A value with no stable form: the file that depends on it is rendered."""


def _is_content(value: Any) -> bool:
    return hasattr(value, "source_path") and hasattr(value, "url") and hasattr(value, "metadata")


def stable(value: Any, top: bool = True, seen: dict[int, int] | None = None) -> Any:
    """A JSON-able form of `value` that is equal exactly when what a template can show of it is.
    Other pages inside (previous/next, related, cited-by) stand in by their link and titles; an
    object met again (the record inside the display and on the article) stands in by its number."""
    if seen is None:
        seen = {}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (datetime, date, time)):
        return [type(value).__name__, value.isoformat(), str(value.tzinfo) if isinstance(value, datetime) else None]
    if isinstance(value, enum.Enum):
        return [type(value).__name__, value.name]
    if isinstance(value, dict):
        return [[str(k), stable(v, False, seen)] for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
    if isinstance(value, (list, tuple)):
        return [stable(v, False, seen) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((stable(v, False, seen) for v in value), key=repr)
    if id(value) in seen:
        return ["again", seen[id(value)]]
    if dataclasses.is_dataclass(value):
        seen[id(value)] = len(seen)
        return [type(value).__name__] + [[f.name, stable(getattr(value, f.name), False, seen)]
                                         for f in dataclasses.fields(value)]
    if _is_content(value):
        if top:
            seen[id(value)] = len(seen)
            return [type(value).__name__] + [[k, stable(v, False, seen)] for k, v in sorted(vars(value).items())
                                             if k not in _SKIP_ATTRS]
        display = getattr(value, "display", None)
        record = getattr(display, "record", None)
        return ["page", value.url, getattr(value, "title", None), getattr(record, "title", None)]
    if hasattr(value, "slug") and hasattr(value, "name") and hasattr(value, "url"):  # Tag, Category, Author
        return [type(value).__name__, value.name, value.url]
    if hasattr(value, "key") and type(value).__name__ == "ZoneInfo":
        return ["ZoneInfo", value.key]
    text = repr(value)
    if " at 0x" in text:
        raise Unstable(f"{type(value).__name__} has no stable form")
    return [type(value).__name__, text]


def key_of(*parts: Any) -> str | None:
    """The digest of `parts`, or None when one of them has no stable form."""
    try:
        seen: dict[int, int] = {}
        data = json.dumps([stable(p, True, seen) for p in parts], ensure_ascii=False, separators=(",", ":"))
    except (Unstable, TypeError, ValueError):
        return None
    return hashlib.blake2b(data.encode("utf-8"), digest_size=16).hexdigest()


class Reuse:
    """The previous build's record and folder, and this build's record."""

    def __init__(self, output: Path, previous: Path | None = None, record: Path | None = None,
                 save: Path | None = None):
        self.output = Path(output)
        self.previous = Path(previous) if previous else None
        self.save_to = Path(save) if save else None
        self.old: dict[str, str] = {}
        if record and self.previous:
            try:
                self.old = json.loads(Path(record).read_text(encoding="utf-8"))["files"]
            except (OSError, ValueError, KeyError, TypeError):
                self.old = {}
        self.new: dict[str, str] = {}
        self.reused = 0
        self.rendered = 0

    @classmethod
    def from_settings(cls, output: Path, settings: dict[str, Any]) -> Reuse:
        conf = settings.get(SETTING) or {}
        return cls(output, conf.get("previous"), conf.get("record"), conf.get("save"))

    @staticmethod
    def counts(record: Path) -> dict[str, int]:
        """How many files a saved record's build linked and wrote."""
        try:
            data = json.loads(Path(record).read_text(encoding="utf-8"))
            return {"reused": int(data["reused"]), "rendered": int(data["rendered"])}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    @property
    def enabled(self) -> bool:
        return self.save_to is not None

    def take(self, rel: str, key: str | None) -> bool:
        """Link `rel` from the previous build when it was made from the same `key`; record the key.
        False means: write the file."""
        if not self.enabled or key is None:
            self.rendered += 1
            return False
        self.new[rel] = key
        if self.old.get(rel) != key or self.previous is None:
            self.rendered += 1
            return False
        source, dest = self.previous / rel, self.output / rel
        if not source.is_file() or source.is_symlink():
            self.rendered += 1
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        try:
            os.link(source, dest)
        except OSError:  # another file system: a copy keeps the bytes and the time
            shutil.copy2(source, dest)
        self.reused += 1
        return True

    def save(self) -> None:
        if self.save_to is None:
            return
        self.save_to.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.save_to.with_name(self.save_to.name + ".tmp")
        tmp.write_text(json.dumps({"files": self.new, "reused": self.reused, "rendered": self.rendered},
                                  sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.save_to)


#: The running build's Reuse, by the identity of its settings dict (plugins share that dict).
_running: list[tuple[dict[str, Any], Reuse]] = []


def start(settings: dict[str, Any], output: Path) -> Reuse:
    """The Reuse of a build that is starting (called by the build's writer)."""
    made = Reuse.from_settings(output, settings)
    _running[:] = [(settings, made)]
    return made


def for_settings(settings: dict[str, Any]) -> Reuse | None:
    """The running build's Reuse when reuse is on, for plugins that write their own files."""
    return next((r for s, r in _running if s is settings and r.enabled), None)


def finish(settings: dict[str, Any]) -> Reuse | None:
    """Save the running build's record; returns its Reuse (None when reuse was off)."""
    done = for_settings(settings)
    _running.clear()
    if done is not None:
        done.save()
    return done
