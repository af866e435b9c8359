"""The libyaml reader gives exactly what pelican-yaml-metadata's own reader gives."""

from __future__ import annotations

import sys

from pelican.plugins.yaml_metadata.yaml_metadata import YAMLMetadataReader

from broadsheet.site import load_settings
from conftest import DATA, ROOT, ingest_into

sys.path.insert(0, str(ROOT / "plugins"))
from yaml_reader import LibyamlMetadataReader  # noqa: E402


def test_same_content_and_metadata(tmp_path):
    content = tmp_path / "content"
    ingest_into(DATA / "dumps", content)
    settings = load_settings("local")
    ours, theirs = LibyamlMetadataReader(settings), YAMLMetadataReader(settings)
    files = sorted(content.rglob("*.md"))
    assert len(files) > 20
    for path in files:
        assert ours.read(str(path)) == theirs.read(str(path)), path


def test_unreadable_front_matter_skips_the_file_by_name(tmp_path, caplog):
    bad = tmp_path / "bad.md"
    bad.write_text("---\ntitle: [unclosed\n---\n\nBody.\n", encoding="utf-8")
    settings = load_settings("local", PATH=str(tmp_path))
    content, meta = LibyamlMetadataReader(settings).read(str(bad))
    assert meta == {"status": "skip"} and content is None
    assert "bad.md, line 3: " in caplog.text and "skipped" in caplog.text
    assert settings["SKIPPED_CONTENT"][0]["file"] == "bad.md"
