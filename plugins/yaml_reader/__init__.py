"""yaml_reader: pelican-yaml-metadata's reader, with bounded YAML and typed fields.

pelican-yaml-metadata calls `yaml.safe_load`, PyYAML's pure-Python parser, which was the largest
single cost of a build (about a fifth of it on 2,000 articles); `broadsheet.safe_yaml` gives the
same data through libyaml, after refusing what would exhaust memory or crash (alias bombs, deep
nesting). Front matter an archivist broke (invalid YAML, a `!!python/object` tag, a list as a
title, a string as `source`: `broadsheet.article.FIELD_TYPES`) skips that one file with a
warning naming the file, the line and the field; the rest of the archive is built. Each skipped
file is also listed in the build's settings under SKIPPED_CONTENT, for the rebuild's report.
"""

from __future__ import annotations

import logging
import os

from pelican import signals
from pelican.plugins.yaml_metadata.yaml_metadata import YAMLMetadataReader, _convert_py_to_meta
from pelican.utils import pelican_open

from broadsheet import partitioned, pelican_internals
from broadsheet.front_matter import front_matter, header, read_ahead

log = logging.getLogger(__name__)

#: The build's settings key that lists skipped content files: {file, line, reason}.
SKIPPED = "SKIPPED_CONTENT"
#: Driver: {source path: front_matter(...)} read ahead on the engine (see `prefetch`).
PREFETCHED = "PREFETCHED_FRONT_MATTER"
#: Reading one file's front matter takes about this long on one core: what decides whether a
#: local cluster pays for its start (`engine.pays_for_a_local_cluster`).
_SECONDS_PER_FILE = 0.0008
#: Pelican leaves an article whose status is `skip` out of the build, saying nothing.
_SKIP = {"status": "skip"}


class LibyamlMetadataReader(YAMLMetadataReader):
    def read(self, source_path):
        """As the library's, with bounded YAML; a file whose front matter cannot be used gives
        metadata `status: skip` and a warning."""
        stand_in = partitioned.is_driver(self.settings) and not self._is_page(source_path)
        found = self.settings.get(PREFETCHED, {}).pop(source_path, None) if stand_in else None
        if found is None:
            with pelican_open(source_path) as text:
                split = header(text)
            if split is None:
                return super().read(source_path)
            m, first_line = split
            found = front_matter(m.group("metadata"), self._name(source_path), first_line,
                                 self._required(source_path))
        if found[0] == "skip":
            self._skip(source_path, *found[1:])
            # No content: Pelican's reader cache keeps nothing without it, so the file is read
            # (and reported) again at every build until it is fixed.
            return None, dict(_SKIP)
        metadata = self._parse_yaml_metadata(found[1], source_path)
        if stand_in:
            return "", metadata  # its partition's run reads the text
        self._md.Meta = {k: _convert_py_to_meta(v) for k, v in metadata.items()}
        return self._md.reset().convert(m.group("content")), metadata

    def _required(self, source_path) -> tuple[str, ...]:
        return ("title",) if self._is_page(source_path) else ("title", "date")

    def _skip(self, source_path, line, problem):
        name = self._name(source_path)
        where = f"{name}, line {line}" if line else name
        log.warning("%s: %s; this article is skipped, the rest of the archive is built "
                    "(fix its front matter and build again)", where, problem)
        self.settings.setdefault(SKIPPED, []).append({"file": name, "line": line, "reason": problem})
        return _SKIP

    def _name(self, source_path) -> str:
        """The file as the archivist knows it: relative to the content folder."""
        base = self.settings.get("PATH") or ""
        try:
            return os.path.relpath(source_path, base) if base else str(source_path)
        except ValueError:  # another drive (Windows)
            return str(source_path)

    def _is_page(self, source_path) -> bool:
        return _in_page_paths(self._name(source_path), self.settings)


def prefetch(generator) -> None:
    """article_generator_init, in a partitioned build's driver: read every article's front
    matter on the engine's workers, for the reader to take instead of reading it here. Reading
    front matter is most of the driver's work per article, and the driver is alone until the
    partitions start. Not done when a content cache stands in for most reads (a rebuild), nor
    where a local cluster would cost more than it saves."""
    from broadsheet import engine

    s = generator.settings
    if not partitioned.is_driver(s) or pelican_internals.has_reader_cache(generator):
        return
    scheduler = (s.get(partitioned.PLAN) or {}).get("scheduler")
    files = [f for f in generator.get_files(s["ARTICLE_PATHS"], exclude=s["ARTICLE_EXCLUDES"])
             if not _in_page_paths(f, s)]
    if engine.scheduler_address(scheduler) is None and \
            not engine.pays_for_a_local_cluster(len(files), _SECONDS_PER_FILE):
        return
    paths = [os.path.abspath(os.path.join(generator.path, f)) for f in files]
    with engine.connect(scheduler) as run:
        jobs = engine.carried([(path, f, None) for path, f in zip(paths, files)], run)
        found = dict(zip(paths, run.map(read_ahead, jobs, len(paths), name="front-matter")))
    s[PREFETCHED] = {path: result for path, result in found.items() if result is not None}


def _in_page_paths(rel: str, settings) -> bool:
    """Whether the content file `rel` (from the content folder) is under PAGE_PATHS."""
    rel = rel.replace(os.sep, "/")
    return any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in settings.get("PAGE_PATHS") or [])


def add_reader(readers):
    for ext in LibyamlMetadataReader.file_extensions:
        readers.reader_classes[ext] = LibyamlMetadataReader


def register():
    signals.readers_init.connect(add_reader)
    signals.article_generator_init.connect(prefetch)
