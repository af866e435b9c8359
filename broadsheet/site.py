"""Runs Pelican with the project's settings: the only library module that imports Pelican."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any


def _project_folder() -> Path:
    """Where the settings files, plugins/ and theme/ are: the checkout this package sits in,
    or, when Broadsheet runs from an installed wheel (a Dask worker's), the copy of them that
    the wheel carries under broadsheet/project/ (see pyproject.toml)."""
    package = Path(__file__).resolve().parent
    packaged = package / "project"
    return packaged if (packaged / "pelicanconf.py").is_file() else package.parent


PROJECT = _project_folder()
SETTINGS_FILES = {"local": "pelicanconf.py", "hosted": "publishconf.py", "offline": "offlineconf.py"}


class BuildError(RuntimeError):
    """Pelican reported errors: the build is not to be trusted."""


def settings_file(name: str) -> Path:
    try:
        return PROJECT / SETTINGS_FILES[name]
    except KeyError:
        raise ValueError(f"unknown settings {name!r}; choose one of {', '.join(SETTINGS_FILES)}") from None


def load_settings(name: str = "local", **overrides: Any) -> dict[str, Any]:
    from pelican.settings import read_settings

    return read_settings(str(settings_file(name)), override=overrides or None)


def search_index_folder(output: Path) -> Path:
    """Where the search index of the site built into `output` lives unless SEARCH_INDEX_PATH says:
    `.<output name>.search-index` beside it, out of the published pages, one per output (sites
    built into sibling folders never share one). For a rebuild's output, a link to the current
    version, it sits beside the link, so every version shares it."""
    output = Path(output).absolute()
    return output.parent / f".{output.name}.search-index"


def source_timezone(name: str = "local") -> str:
    return load_settings(name)["SOURCE_TIMEZONE"]


class _ErrorCounter(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def build(content: Path | None, output: Path | None, settings: str = "local", *, partitioned: bool | None = None,
          scheduler: str | None = None, **overrides: Any) -> dict[str, Any]:
    """Build the site; raise BuildError if Pelican logged any error. Returns the settings used.

    Partitioned (PARTITIONED_BUILD, or `partitioned`): a driver run over the articles' front
    matter and a run per partition on the engine (`broadsheet.partitioned`), at `scheduler`
    when named; the same bytes as a single run."""
    from pelican import Pelican

    from broadsheet import partitioned as parts

    if content is not None:
        overrides["PATH"] = str(Path(content).resolve())
    if output is not None:
        overrides["OUTPUT_PATH"] = str(Path(output).resolve())
    conf = load_settings(settings, **overrides)
    if partitioned is None:
        partitioned = bool(conf.get("PARTITIONED_BUILD"))
    if partitioned and parts.role(conf) is None:
        conf[parts.ROLE] = parts.DRIVER
        conf[parts.PLAN] = {"settings": settings, "overrides": overrides, "scheduler": scheduler}
        if conf.get("CACHE_PATH"):  # the driver's stand-ins are not a single build's articles
            conf["CACHE_PATH"] = str(Path(conf["CACHE_PATH"], "driver"))
    elif parts.is_partition(conf):  # the driver compresses the whole output once it is written
        conf["PLUGINS"] = [p for p in conf.get("PLUGINS") or [] if p != "pelican.plugins.precompress"]
    counter = _ErrorCounter()
    root = logging.getLogger()
    root.addHandler(counter)
    try:
        Pelican(conf).run()
    finally:
        root.removeHandler(counter)
    if counter.messages:
        raise BuildError("Pelican reported errors:\n- " + "\n- ".join(counter.messages))
    return conf
