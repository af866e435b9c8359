"""yaml_reader: pelican-yaml-metadata's reader, parsing front matter with libyaml.

pelican-yaml-metadata calls `yaml.safe_load`, PyYAML's pure-Python parser, which was the largest
single cost of a build (about a fifth of it on 2,000 articles). libyaml's loader gives the same
data through the same safe constructor, several times faster; the library's reader does the rest
(metadata conversion, Markdown rendering).
"""

from __future__ import annotations

import logging

import yaml
from pelican import signals
from pelican.plugins.yaml_metadata.yaml_metadata import YAMLMetadataReader

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader

log = logging.getLogger(__name__)


class LibyamlMetadataReader(YAMLMetadataReader):
    def _load_yaml_metadata(self, text, source_path):
        """As the library's, with the C loader: {} (and an error naming the file) when unreadable."""
        try:
            metadata = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError:
            log.error("Error parsing YAML for file '%s'", source_path, exc_info=True)
            return {}
        if not isinstance(metadata, dict):
            log.error("YAML header didn't parse as a dict for file '%s'", source_path)
            return {}
        return self._parse_yaml_metadata(metadata, source_path)


def add_reader(readers):
    for ext in LibyamlMetadataReader.file_extensions:
        readers.reader_classes[ext] = LibyamlMetadataReader


def register():
    signals.readers_init.connect(add_reader)
