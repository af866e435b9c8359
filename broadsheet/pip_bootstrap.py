"""pip for a virtualenv made without it, where Python's own installer (ensurepip) is missing.

Debian and Ubuntu ship ensurepip apart (python3-venv); where that cannot be installed, `./invoke`
makes the virtualenv with `--without-pip` and runs this file with the virtualenv's Python. It
reads pip's own configuration (find-links, index-url, extra-index-url, cert, no-index: the files
and PIP_* variables pip reads), takes pip's wheel from there, checks it against the sha256 the
index gives, and lets the wheel install itself. Standard library only: nothing else is installed yet.
"""

from __future__ import annotations

import configparser
import hashlib
import html.parser
import json
import os
import ssl
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PIP_VERSION = "26.3"
PYPI = "https://pypi.org/simple"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass
class PipSettings:
    index_url: str = PYPI
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    cert: str | None = None
    no_index: bool = False


@dataclass(frozen=True)
class Wheel:
    url: str
    sha256: str | None  # None only for a file in a local find-links folder, which pip trusts as it is


def _config_files(environ) -> list[Path]:
    """pip's configuration files, in the order pip lets them override each other (last wins):
    global, user (skipped when PIP_CONFIG_FILE names a file), the virtualenv's, PIP_CONFIG_FILE."""
    named = environ.get("PIP_CONFIG_FILE")
    if named == os.devnull:
        return []
    xdg_dirs = environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    home = Path(environ.get("HOME", str(Path.home())))
    xdg_home = Path(environ.get("XDG_CONFIG_HOME", str(home / ".config")))
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs if d] + [Path("/etc/pip.conf")]
    if not (named and Path(named).exists()):
        files += [home / ".pip" / "pip.conf", xdg_home / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if named:
        files.append(Path(named))
    return files


def pip_settings(environ=os.environ) -> PipSettings:
    """The index settings pip itself would use: config files ([global], then [install]), then PIP_* variables."""
    values: dict[str, str] = {}
    for path in _config_files(environ):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error):
            continue
        for section in ("global", "install"):
            if parser.has_section(section):
                values.update({k.replace("_", "-"): v for k, v in parser.items(section)})
    for key in ("index-url", "extra-index-url", "find-links", "cert", "no-index"):
        env = environ.get("PIP_" + key.upper().replace("-", "_"))
        if env is not None:
            values[key] = env
    return PipSettings(index_url=values.get("index-url", PYPI).strip() or PYPI,
                       extra_index_urls=values.get("extra-index-url", "").split(),
                       find_links=values.get("find-links", "").split(),
                       cert=values.get("cert") or None,
                       no_index=values.get("no-index", "").strip().lower() in ("1", "true", "yes", "on"))


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def _open(url: str, settings: PipSettings, accept: str = "*/*"):
    context = ssl.create_default_context(cafile=settings.cert) if settings.cert else None
    request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "broadsheet-pip-bootstrap"})
    return urllib.request.urlopen(request, timeout=60, context=context)


def _wheel_in(page_url: str, body: bytes, content_type: str, name: str) -> Wheel | None:
    """The wheel called `name` on a simple-index page (PEP 691 JSON or PEP 503 HTML)."""
    if content_type.startswith(SIMPLE_JSON):
        for f in json.loads(body).get("files", []):
            if f.get("filename") == name:
                return Wheel(urllib.parse.urljoin(page_url, f["url"]), f.get("hashes", {}).get("sha256"))
        return None
    links = _Links()
    links.feed(body.decode("utf-8", "replace"))
    for href in links.hrefs:
        url = urllib.parse.urljoin(page_url, href)
        parts = urllib.parse.urlsplit(url)
        if urllib.parse.unquote(parts.path.rsplit("/", 1)[-1]) == name:
            digest = dict(urllib.parse.parse_qsl(parts.fragment)).get("sha256")
            return Wheel(urllib.parse.urlunsplit(parts._replace(fragment="")), digest)
    return None


def find_pip_wheel(settings: PipSettings, version: str = PIP_VERSION) -> tuple[Wheel | None, list[str]]:
    """pip's wheel where pip would look (find-links, then the indexes); also what failed, by place."""
    name = f"pip-{version}-py3-none-any.whl"
    problems = []
    for link in settings.find_links:
        folder = Path(urllib.parse.urlsplit(link).path) if link.startswith("file:") else Path(link)
        if "://" not in link or link.startswith("file:"):
            if (folder / name).is_file():
                return Wheel((folder / name).resolve().as_uri(), None), problems
            continue
        try:
            with _open(link, settings) as response:
                wheel = _wheel_in(response.url, response.read(), response.headers.get_content_type(), name)
        except (OSError, ValueError) as exc:
            problems.append(f"{link}: {exc}")
            continue
        if wheel:
            return wheel, problems
    indexes = [] if settings.no_index else [settings.index_url, *settings.extra_index_urls]
    for index in indexes:
        page = index.rstrip("/") + "/pip/"
        try:
            with _open(page, settings, accept=f"{SIMPLE_JSON}, text/html;q=0.1") as response:
                wheel = _wheel_in(response.url, response.read(), response.headers.get("Content-Type", ""), name)
        except (OSError, ValueError) as exc:
            problems.append(f"{page}: {exc}")
            continue
        if wheel and wheel.sha256:
            return wheel, problems
        problems.append(f"{page}: no {name} with a sha256")
    return None, problems


def fetch(wheel: Wheel, dest: Path, settings: PipSettings) -> Path:
    """Download `wheel` into `dest`; raises ValueError when its sha256 is not the index's."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(wheel.url).path.rsplit("/", 1)[-1])
    with _open(wheel.url, settings) as response:
        data = response.read()
    if wheel.sha256 is not None and hashlib.sha256(data).hexdigest() != wheel.sha256.lower():
        raise ValueError(f"{wheel.url}: sha256 {hashlib.sha256(data).hexdigest()} is not the index's {wheel.sha256}")
    path = dest / name
    path.write_bytes(data)
    return path


def main() -> int:
    if sys.prefix == sys.base_prefix:
        print("pip_bootstrap: run me with the virtualenv's Python", file=sys.stderr)
        return 2
    settings = pip_settings()
    wheel, problems = find_pip_wheel(settings)
    if wheel is None:
        print(f"pip_bootstrap: found no pip {PIP_VERSION} wheel where pip is configured to look:\n  "
              + "\n  ".join(problems or ["(no index or find-links configured)"]), file=sys.stderr)
        return 1
    print(f"./invoke: installing pip {PIP_VERSION} into the virtualenv from {wheel.url}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = fetch(wheel, Path(tmp), settings)
        except (OSError, ValueError) as exc:
            print(f"pip_bootstrap: {exc}", file=sys.stderr)
            return 1
        # A wheel is a zip that Python can run: pip installs itself from its own wheel, offline.
        return subprocess.run([sys.executable, str(path / "pip"), "install", "--quiet", "--no-index",
                               "--disable-pip-version-check", str(path)]).returncode


if __name__ == "__main__":
    sys.exit(main())
