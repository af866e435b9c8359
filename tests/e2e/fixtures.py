"""End-to-end fixtures (loaded as a pytest plugin by tests/conftest.py): the sample + adversarial corpus built hosted (served on loopback)
and offline (the zip, unzipped, opened from file://), and a page that records what a
reader's browser would do wrong: console errors, dialogs, requests leaving the site."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import DATA, ROOT

ARTIFACTS = ROOT / "test-artifacts"
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"


def e2e_sources(tmp: Path) -> Path:
    """raw/ (seed + synthetic sample) plus every bad-input dump and every injection attempt."""
    src = tmp / "raw"
    shutil.copytree(ROOT / "raw", src)
    shutil.copytree(DATA / "dumps", src / "bad-input")
    shutil.copytree(DATA / "adversarial", src / "adversarial")
    return src


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves quietly; each request's path and status go to the server's `served` list."""

    def log_request(self, code="-", size="-"):
        self.server.served.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, *args):
        pass


def serve(folder: Path) -> http.server.ThreadingHTTPServer:
    """`folder` over HTTP on 127.0.0.1 (a free port), in a daemon thread; `.served` lists
    (path, status) of every request. Call `.shutdown()` when done."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.served = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def e2e_content(tmp_path_factory):
    from broadsheet.ingest import ingest

    tmp = tmp_path_factory.mktemp("e2e")
    content = tmp / "content"
    ingest(e2e_sources(tmp), content, "Asia/Tehran")
    return content


@pytest.fixture(scope="session")
def hosted(e2e_content, tmp_path_factory):
    """The hosted build, served over HTTP on 127.0.0.1; yields its base URL."""
    from conftest import build_site

    out = tmp_path_factory.mktemp("hosted") / "output"
    out.mkdir()
    server = serve(out)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    build_site(e2e_content, out, "hosted", SITEURL=base)
    yield {"base": base, "root": out, "index": base + "/index.html", "home": base + "/index.html",
           "served": server.served}
    server.shutdown()


@pytest.fixture(scope="session")
def offline(e2e_content, tmp_path_factory):
    """The offline zip, unzipped: yields the file:// URL of its top-level index.html."""
    from broadsheet.archive.offline import make_offline_zip

    tmp = tmp_path_factory.mktemp("offline")
    zip_path = tmp / "archive.zip"
    make_offline_zip(e2e_content, zip_path, cache_path=tmp / "cache")
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(tmp / "unzipped")
    tops = [p for p in (tmp / "unzipped").iterdir()]
    root = tops[0] if len(tops) == 1 and tops[0].is_dir() else tmp / "unzipped"
    return {"base": root.as_uri(), "root": root, "index": (root / "index.html").as_uri(),
            "home": (root / "data" / "index.html").as_uri()}


@dataclass
class Watch:
    """What went wrong while a reader used the page."""

    base: str
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def attach(self, page):
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(f"{page.url}: {m.text}"))
        page.on("pageerror", lambda e: self.console_errors.append(f"{page.url}: {e}"))

        def on_dialog(d):
            self.dialogs.append(f"{page.url}: {d.type} {d.message}")
            d.dismiss()

        page.on("dialog", on_dialog)

        def route(r):
            url = r.request.url
            if url.startswith(self.base) or url.startswith("data:") or url == "about:blank":
                r.continue_()
            else:
                self.outside.append(url)
                r.abort()

        page.route("**/*", route)

    def assert_clean(self):
        assert self.dialogs == [], self.dialogs
        assert self.outside == [], self.outside
        assert self.console_errors == [], self.console_errors


@pytest.fixture
def reader(browser, request):
    """A fresh browser page; on failure a screenshot lands in test-artifacts/."""
    context = browser.new_context()
    page = context.new_page()
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = request.node.nodeid.replace("/", "_").replace("::", "__")[:150]
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        except Exception:  # the page may be gone; the failure itself is what matters
            pass
    context.close()


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"] if v["impact"] in impacts]
