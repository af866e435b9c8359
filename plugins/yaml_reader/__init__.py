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
import re

from pelican import signals
from pelican.plugins.yaml_metadata.yaml_metadata import HEADER_RE, YAMLMetadataReader, _convert_py_to_meta
from pelican.utils import pelican_open

from broadsheet import partitioned, safe_yaml
from broadsheet.article import front_matter_problems, with_text_fields

log = logging.getLogger(__name__)

#: The build's settings key that lists skipped content files: {file, line, reason}.
SKIPPED = "SKIPPED_CONTENT"
#: Pelican leaves an article whose status is `skip` out of the build, saying nothing.
_SKIP = {"status": "skip"}


class LibyamlMetadataReader(YAMLMetadataReader):
    def read(self, source_path):
        """As the library's, with bounded YAML; a file whose front matter cannot be used gives
        metadata `status: skip` and a warning."""
        with pelican_open(source_path) as text:
            m = HEADER_RE.fullmatch(text)
        if not m:
            return super().read(source_path)
        first_line = text[: m.start("metadata")].count("\n") + 1
        metadata = self._load_yaml_metadata(m.group("metadata"), source_path, first_line)
        if metadata is _SKIP:
            # No content: Pelican's reader cache keeps nothing without it, so the file is read
            # (and reported) again at every build until it is fixed.
            return None, dict(_SKIP)
        if partitioned.is_driver(self.settings) and not self._is_page(source_path):
            return "", metadata  # a stand-in: its partition's run reads the text
        self._md.Meta = {k: _convert_py_to_meta(v) for k, v in metadata.items()}
        return self._md.reset().convert(m.group("content")), metadata

    def _load_yaml_metadata(self, text, source_path, first_line=1):
        try:
            metadata = safe_yaml.load(text, self._name(source_path), first_line)
        except safe_yaml.YAMLInputError as exc:
            return self._skip(source_path, exc.line, exc.problem)
        required = ("title",) if self._is_page(source_path) else ("title", "date")
        problems = front_matter_problems(metadata, required)
        if problems:
            field = problems[0].split(":", 1)[0]
            return self._skip(source_path, _line_of(text, field, first_line), "; ".join(problems))
        return self._parse_yaml_metadata(with_text_fields(metadata), source_path)

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
        rel = self._name(source_path).replace(os.sep, "/")
        return any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in self.settings.get("PAGE_PATHS") or [])


def _line_of(text: str, field: str, first_line: int) -> int | None:
    """The line of a top-level `field:` in the front matter, for the warning."""
    m = re.search(rf"^{re.escape(field)}\s*:", text, re.MULTILINE)
    return first_line + text[: m.start()].count("\n") if m else None


def add_reader(readers):
    for ext in LibyamlMetadataReader.file_extensions:
        readers.reader_classes[ext] = LibyamlMetadataReader


def register():
    signals.readers_init.connect(add_reader)
