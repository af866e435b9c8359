"""Issue 14, the site side: URLs from input, front matter an archivist broke, the favicon.

Each test builds a real site from real input (the bundled dumps, rows of FA-KES) with one
hostile or broken piece added, and checks that the piece is refused by name while the rest of
the archive is built.
"""

from __future__ import annotations

import csv
import html
import json
import logging
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from broadsheet import links, safe_yaml
from broadsheet.article import FrontMatterError, front_matter_problems, read_markdown_file
from broadsheet.ingest import ingest
from broadsheet.tables import load_mapping
from conftest import FAKES_CSV, FAKES_DIR, ROOT, build_site, ingest_into

FAKES_MAPPING = ROOT / "mappings" / "fa-kes.yaml"
#: How a hostile URL can be spelled so that a browser still runs it.
HOSTILE_URLS = [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " \t javascript:alert(1)", "\x01javascript:alert(1)",
    "java\tscript:alert(1)", "java\nscript:alert(1)", "&#106;avascript:alert(1)", "java&#x09;script:alert(1)",
    "&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;:alert(1)", "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)", "//evil.example/x", "\\\\evil.example/x", "/\\evil.example/x", "file:///etc/passwd",
    "mailto:someone@example.org",
]
FINE_URLS = ["https://doi.org/10.5281/zenodo.2607278", "http://example.org/a?b=1&c=2#d", "HTTPS://EXAMPLE.ORG",
             "data/articles.csv", "../corpus.html", "#top", "?q=army"]


# -- 1. URLs from input ---------------------------------------------------------------------


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_hostile_urls_are_refused(url):
    assert not links.is_allowed_url(url)
    checked = links.checked_url(url)
    assert checked.href is None and checked.text == url and checked.problem


@pytest.mark.parametrize("url", FINE_URLS)
def test_http_https_and_relative_urls_are_allowed(url):
    assert links.is_allowed_url(url)
    assert links.checked_url(url).href == url


def test_no_url_and_non_text_urls():
    assert links.checked_url(None) is None and links.checked_url("  ") is None
    assert links.checked_url(["https://x.org"]).href is None
    assert not links.is_allowed_url("https://x.org", relative_only=True)
    assert links.is_allowed_url("2016/03/x.html", relative_only=True)


def _hrefs_and_srcs(root: Path) -> list[tuple[str, str]]:
    """Every href/src/action value of every text file of a built site, entities decoded."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".html", ".xml", ".js", ".json", ".gexf", ".graphml", ".svg"):
            text = path.read_text(encoding="utf-8", errors="replace")
            for m in re.finditer(r"""\b(?:href|src|action|formaction|xlink:href)\s*=\s*("[^"]*"|'[^']*')""", text, re.I):
                found.append((path.relative_to(root).as_posix(), html.unescape(m.group(1)[1:-1])))
    return found


@pytest.fixture(scope="module")
def hostile_dataset_site(tmp_path_factory):
    """Six rows of FA-KES ingested with a copy of the shipped mapping whose dataset.url is
    `javascript:alert(1)`, built locally (file://)."""
    if not FAKES_CSV.exists():
        pytest.skip(f"FA-KES is not in {FAKES_DIR}: download FA-KES-Dataset.csv from Zenodo record 2607278")
    base = tmp_path_factory.mktemp("hostile-dataset")
    with FAKES_CSV.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        rows = [next(reader) for _ in range(7)]
    table = base / "fa-kes-rows.csv"
    with table.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    mapping = base / "mapping.yaml"
    text = FAKES_MAPPING.read_text(encoding="utf-8")
    assert 'url: "https://doi.org/10.5281/zenodo.2607278"' in text
    mapping.write_text(text.replace('url: "https://doi.org/10.5281/zenodo.2607278"', 'url: "javascript:alert(1)"'),
                       encoding="utf-8")
    content, output = base / "content", base / "output"
    report = ingest(table, content, "Asia/Tehran", mapping=load_mapping(mapping))
    assert len(report.accepted) == 6
    records = logging.getLogger()
    handler = _Collect()
    records.addHandler(handler)
    try:
        build_site(content, output)
    finally:
        records.removeHandler(handler)
    return {"output": output, "content": content, "warnings": handler.messages}


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_a_javascript_dataset_url_is_never_a_link(hostile_dataset_site):
    output = hostile_dataset_site["output"]
    every = _hrefs_and_srcs(output)
    assert len(every) > 100
    bad = [(page, url) for page, url in every if links.url_scheme(url) not in (None, "http", "https")]
    assert bad == []
    for path in output.rglob("*.html"):
        assert not re.search(r"""(href|src)\s*=\s*["']?\s*javascript:""", path.read_text(encoding="utf-8"), re.I), path
    # shown as text where the dataset is cited, and the build said which file and field
    corpus = (output / "corpus.html").read_text(encoding="utf-8")
    assert '<span class="url-as-text">javascript:alert(1)</span>' in corpus
    article = next(p for p in output.glob("20*/*/*.html"))
    assert '<span class="url-as-text">javascript:alert(1)</span>' in article.read_text(encoding="utf-8")
    named = [m for m in hostile_dataset_site["warnings"] if "dataset.url" in m and "javascript:alert(1)" in m]
    assert len(named) == 1 and re.match(r"20\d\d/\d\d/.+\.md \(and 5 other articles\): dataset\.url ", named[0])


@pytest.mark.browser
def test_clicking_the_refused_dataset_url_runs_nothing(hostile_dataset_site, browser):
    output = hostile_dataset_site["output"]
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        for target in [output / "corpus.html", next(output.glob("20*/*/*.html"))]:
            page.goto(target.as_uri())
            shown = page.locator(".url-as-text")
            assert shown.count() == 1
            shown.click()
            protocols = page.eval_on_selector_all("a[href]", "els => els.map(a => a.protocol)")
            assert set(protocols) <= {"file:", "http:", "https:"}, protocols
            assert page.url == target.as_uri()
    finally:
        page.close()
    assert dialogs == []


# -- 2. front matter an archivist broke --------------------------------------------------------

#: name -> front matter (between the --- lines), and what the warning must say.
BILLION_LAUGHS = ('title: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
                  + "".join(f"x{i}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9))
                  + "date: '2016-03-21T10:00:00+03:30'\n")
BROKEN = {
    "alias-bomb": (BILLION_LAUGHS, r"line \d+: .*billion laughs"),
    "python-tag": ("title: !!python/object/apply:os.system ['touch /tmp/broadsheet-pwned']\n"
                   "date: '2016-03-21T10:00:00+03:30'\n", r"line 2: .*python/object"),
    "invalid-yaml": ("title: [unclosed\ndate: '2016-03-21T10:00:00+03:30'\n", r"line \d+: "),
    "deep-nesting": ("title: x\ndate: '2016-03-21T10:00:00+03:30'\nnotes: " + "[" * 100_000 + "]" * 100_000 + "\n",
                     r"line 4: nested more than"),
    "list-title": ("title: [one, two]\ndate: '2016-03-21T10:00:00+03:30'\n", r"line 2: title: expected text, got a list"),
    "string-source": ("title: x\ndate: '2016-03-21T10:00:00+03:30'\nsource: just a string\n",
                      r"line 4: source: expected a mapping"),
    "number-date": ("title: x\ndate: 20160321\n", r"line 3: date: expected a date and time"),
    "dict-tags": ("title: x\ndate: '2016-03-21T10:00:00+03:30'\ntags: {a: 1}\n", r"line 4: tags: expected text or a list"),
    "javascript-url": ("title: x\ndate: '2016-03-21T10:00:00+03:30'\nurl: 'javascript:alert(1)'\n",
                       r"line 4: url: expected a relative URL"),
    "no-date": ("title: x\n", r"date: missing"),
    "not-a-mapping": ("- just\n- a list\n", r"front matter: expected a mapping"),
}


@pytest.fixture(scope="module")
def broken_edits_site(tmp_path_factory):
    """The bundled dumps, ingested, plus one content file per way an archivist can break front
    matter; built once (a bomb expanded, or a crash, would take the whole test run down)."""
    base = tmp_path_factory.mktemp("broken-edits")
    content, output = base / "content", base / "output"
    ingest_into(ROOT / "raw", content)
    good = len(list(content.rglob("*.md")))
    for name, (front, _) in BROKEN.items():
        (content / "2016" / "03" / f"{name}.md").write_text(f"---\n{front}---\n\nBody of {name}.\n", encoding="utf-8")
    # odd but readable: numbers where text is expected, a lone tag and warning, an unquoted date
    (content / "2016" / "03" / "numbers-as-text.md").write_text(
        "---\ntitle: 1984\ndate: 2016-03-21T10:00:00+03:30\ntags: archivist\nsignature: 12\nsource_id: 99\n"
        "facets: {label: 1}\nwarnings: checked by hand\n---\n\nA note.\n", encoding="utf-8")
    good += 1
    handler = _Collect()
    logging.getLogger().addHandler(handler)
    try:
        settings = build_site(content, output)
    finally:
        logging.getLogger().removeHandler(handler)
    return {"output": output, "good": good, "warnings": handler.messages, "settings": settings}


def test_broken_front_matter_skips_only_that_article(broken_edits_site):
    output = broken_edits_site["output"]
    pages = [p for p in output.glob("20*/*/*.html")]
    assert len(pages) == broken_edits_site["good"]
    assert not list(output.rglob("*alias-bomb*")) and not list(output.rglob("*python-tag*"))
    assert not Path("/tmp/broadsheet-pwned").exists()
    odd = (output / "2016" / "03" / "1984.html").read_text(encoding="utf-8")
    assert '<h1 itemprop="headline">1984</h1>' in odd and "<li>checked by hand</li>" in odd
    skipped = {Path(s["file"]).stem: s for s in broken_edits_site["settings"]["SKIPPED_CONTENT"]}
    assert set(skipped) == set(BROKEN)


@pytest.mark.parametrize("name", BROKEN)
def test_each_skipped_file_is_named_with_its_line_and_field(broken_edits_site, name):
    said = [m for m in broken_edits_site["warnings"] if f"2016/03/{name}.md" in m]
    assert len(said) == 1, said
    assert re.search(BROKEN[name][1], said[0]), said[0]
    assert "skipped" in said[0] and "Traceback" not in said[0]


def test_a_rebuild_reports_skipped_content_files(tmp_path):
    """An archivist's own file with a broken field: `invoke rebuild` succeeds, says which file
    it left out and why, and the report keeps it."""
    base = tmp_path / "archive"
    (base / "raw").mkdir(parents=True)
    for dump in sorted((ROOT / "raw" / "synthetic").glob("00[0-2]*.txt")):
        shutil.copy(dump, base / "raw" / dump.name)
    note = base / "content" / "2016" / "03" / "archivist-note.md"
    note.parent.mkdir(parents=True)
    note.write_text("---\ntitle: [a, list]\ndate: '2016-03-21T10:00:00+03:30'\n---\n\nA note.\n", encoding="utf-8")
    bomb = note.with_name("bomb.md")
    bomb.write_text(f"---\n{BILLION_LAUGHS}---\n\nBoom.\n", encoding="utf-8")
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
    proc = subprocess.run(
        [sys.executable, "-c", limit + "import sys; from invoke.main import program; sys.argv[0] = 'invoke'; program.run()",
         "rebuild", "--source", str(base / "raw"), "--content", str(base / "content"), "--output", str(base / "output"),
         "--zip", str(base / "dist" / "a.zip"), "--reports", str(base / "reports")],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    said = " ".join((proc.stdout + proc.stderr).split())  # the console wraps long lines
    assert "skipped content file 2016/03/archivist-note.md, line 2: title: expected text" in said, proc.stderr
    assert "skipped content file 2016/03/bomb.md, line" in said
    saved = json.loads((base / "reports" / "rebuild.json").read_text(encoding="utf-8"))
    assert sorted(s["file"] for s in saved["skipped_content"]) == ["2016/03/archivist-note.md", "2016/03/bomb.md"]
    assert note.read_text(encoding="utf-8").startswith("---\ntitle: [a, list]")  # never rewritten
    assert len(list((base / "output").glob("20*/*/*.html"))) == 3


def test_safe_yaml_refuses_by_line_without_building_the_bomb():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(safe_yaml.YAMLInputError, match=r"^notes\.md, line \d+: .*billion laughs"):
        safe_yaml.load(BILLION_LAUGHS, "notes.md", first_line=2)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB
    with pytest.raises(safe_yaml.YAMLInputError, match=r"line 3: "):
        safe_yaml.load("a: 1\n  b: 2\n", "x.yaml", first_line=2)
    with pytest.raises(safe_yaml.YAMLInputError, match="contains itself"):
        safe_yaml.load("a: &a [*a]\n", "x.yaml")
    assert safe_yaml.load("a: &x {k: v}\nb: *x\n", "x.yaml") == {"a": {"k": "v"}, "b": {"k": "v"}}
    # Texts found within bounds are remembered (a build reads each front matter twice); a
    # refusal is not: the same bomb read again is refused again, naming its own file.
    with pytest.raises(safe_yaml.YAMLInputError, match=r"^other\.md, line \d+: .*billion laughs"):
        safe_yaml.load(BILLION_LAUGHS, "other.md", first_line=2)
    deep = "a: " + "[" * 100 + "]" * 100 + "\n"
    for _ in range(2):
        with pytest.raises(safe_yaml.YAMLInputError, match="nested more than 64 levels"):
            safe_yaml.load(deep, "deep.md")


def test_article_record_refuses_wrong_types_by_field():
    from broadsheet.dumps import parse_dump
    from conftest import SEED

    seed = parse_dump(SEED.read_bytes(), SEED.name, "Asia/Tehran")
    assert read_markdown_file(seed.to_markdown()).title == seed.title
    with pytest.raises(FrontMatterError, match="source: expected a mapping"):
        read_markdown_file("---\ntitle: x\ndate: '2016-03-21T10:00:00+03:30'\nsource: abc\n---\n\nBody.\n")
    assert front_matter_problems({"title": ["a"], "date": 5, "tags": {"a": 1}}) == [
        "title: expected text, got a list of 1",
        "date: expected a date and time with its UTC offset, such as '2016-03-20T21:30:46+03:30', got int 5",
        "tags: expected text or a list of texts, got a mapping of 1"]


# -- 3. the favicon ---------------------------------------------------------------------------


def _wait_until(condition, what: str, timeout: float = 120.0) -> None:
    """Wait for a state the browser reaches on its own (a request it makes after the load)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.browser
@pytest.mark.parametrize("kind", ["hosted", "offline zip served over HTTP"])
def test_no_request_fails_over_http(kind, request, browser):
    """Every page asks for an icon: over HTTP, no request of a reader's visit gets a 404."""
    from e2e.fixtures import serve

    server = None
    if kind == "hosted":
        site = request.getfixturevalue("hosted")
        base, served, start = site["base"], site["served"], site["base"] + "/index.html"
    else:
        root = request.getfixturevalue("offline")["root"]
        server = serve(root)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        served, start = server.served, base + "/index.html"
        base += "/data"
    first = len(served)
    context = browser.new_context()  # a fresh cache: the icon is asked for
    context.set_default_timeout(120_000)  # a limit for a stuck page, far above a loaded machine's waits
    page = context.new_page()
    try:
        page.goto(start)
        # The zip's top index.html forwards to data/index.html: wait for the page it lands on,
        # or the next goto races the forwarding navigation.
        page.wait_for_url(f"{base}/index.html")
        page.wait_for_load_state("load")
        _wait_until(lambda: any("favicon" in path for path, _ in served[first:]), "the icon request")
        for target in ("corpus.html", "archives.html", "search.html?q=army", "graph.html", "tags.html"):
            page.goto(f"{base}/{target}")
            page.wait_for_load_state("networkidle")
        article = page.locator("main a[href$='.html']").first
        if article.count():
            article.click()
            page.wait_for_load_state("networkidle")
    finally:
        context.close()
        if server is not None:
            server.shutdown()
    failed = [(path, status) for path, status in served[first:] if status >= 400]
    assert failed == []
    assert any(path.endswith("/img/favicon.svg") and status == 200 for path, status in served[first:])
