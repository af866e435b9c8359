"""A partitioned build: one driver run over the whole archive's front matter, and one Pelican run
per partition (a period of the archive, see `broadsheet.partitions`) for its articles' pages.

The driver is a Pelican run whose articles are stand-ins: their front matter, no text
(plugins/yaml_reader). From them the plugins compute what crosses partitions exactly as a single
build does (the related graph and cited-by, earlier/later in time, signature and facet pages, the
date tree). Once every generator has its context, `run_partitions` gives each partition its
*slice* (what its pages show of other articles) and renders the partitions as tasks on the
engine (`broadsheet.engine`: a local Dask cluster, or the one `--scheduler` names). Each
partition run reads and renders only its own articles, writes their pages and files, and
returns *facts* the listing pages need and only its text gives (the script a title is shown in,
the data rows); the driver then writes the listing pages, exports and search from the
stand-ins and those facts. The output is byte for byte a single build's (tests/test_partitioned.py).

A task carries what it reads: on a cluster that does not share this machine's files, the
partition's content files travel in it and its written files come back in its result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pickle
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: The setting naming a run's part in a partitioned build: absent for a single build.
ROLE = "BUILD_ROLE"
DRIVER, PARTITION = "driver", "partition"
#: Driver: how to start partition runs ({"settings", "overrides", "scheduler"}).
PLAN = "PARTITION_BUILD"
#: Partition: {relative source path: ArticleSlice}.
SLICE = "PARTITION_SLICE"
#: Both: {article URL: {fact name: value}}; partitions fill it, the driver reads it.
FACTS = "PARTITION_FACTS"
#: Both: {output path: reuse key} of the files partitions wrote (the driver records them).
KEYS = "PARTITION_KEYS"
#: Driver: {"rendered": [partition names], "reused": [...]}, for the rebuild's report.
RUNS = "PARTITION_RUNS"

#: Attributes the driver's plugins attach to an article that its partition's pages show.
SLICED_ATTRIBUTES = ("related", "cited_by", "neighbourhood", "facet_links", "dataset", "text_dateline")
#: Fields of `article.display` computed across the archive.
SLICED_DISPLAY = ("earlier", "later", "signature_url")
#: What the driver's plugins put in the context that a partition's pages show.
SHARED_CONTEXT = ("related_graph", "deposit")
#: Partition: {name: value} of the driver's context (SHARED_CONTEXT).
CONTEXT = "PARTITION_CONTEXT"
#: Seconds one article costs a partition run on one core (rendering most of it): what decides
#: whether a local cluster pays for its start (`engine.pays_for_a_local_cluster`).
_SECONDS_PER_ARTICLE = 0.004


def role(settings: dict[str, Any]) -> str | None:
    return settings.get(ROLE)


def is_partition(settings: dict[str, Any]) -> bool:
    return settings.get(ROLE) == PARTITION


def is_driver(settings: dict[str, Any]) -> bool:
    return settings.get(ROLE) == DRIVER


def facts_of(settings: dict[str, Any], url: str) -> dict[str, Any]:
    """The facts of one article: filled by its partition's plugins, read by the driver's."""
    return settings.setdefault(FACTS, {}).setdefault(url, {})


@dataclass
class ArticleSlice:
    """What a partition's pages show of one of its articles that only the whole archive gives."""

    attributes: dict[str, Any]
    display: dict[str, Any]
    feed: bool  # the driver's feeds show its rendered text: the partition returns it


@dataclass
class PartitionJob:
    name: str
    settings: str
    overrides: dict[str, Any]
    files: list[str]  # article files, relative to the content folder (POSIX)
    #: Pickled ({relative path: ArticleSlice}, {context name: value}): they hold the plugins'
    #: values, which a worker can unpickle only once Pelican has put plugins/ on its path.
    shared: bytes
    #: On a cluster that does not share this machine's files: {relative path: bytes} of the
    #: article files and the earlier versions beside them; None: the worker reads the folder.
    carried: dict[str, bytes] | None = None


@dataclass
class PartitionResult:
    name: str
    facts: dict[str, dict[str, Any]]
    keys: dict[str, str]
    reused: int
    rendered: int
    warnings: list[str]
    files: dict[str, bytes] | None = None  # what it wrote, when the driver's folder is not shared
    articles: int = 0
    complete: bool = False  # every file it wrote has a key (a rebuild may link them all)
    pid: int = 0  # the process it ran in: a worker's warnings were not shown here


@dataclass
class _Member:
    """A stand-in as `broadsheet.partitions` plans it."""

    date: datetime
    url: str
    path: str
    digest: str = ""
    article: Any = field(default=None, repr=False)


def run_partitions(generators) -> None:
    """all_generators_finalized, in the driver: render every partition, keep their facts in the
    settings for the driver's plugins, and give each stand-in what its partition found."""
    from pelican.generators import ArticlesGenerator

    from broadsheet import engine
    from broadsheet.partitions import plan_for_settings

    articles_generator = next(g for g in generators if isinstance(g, ArticlesGenerator))
    settings = articles_generator.settings
    plan = settings[PLAN]
    everything = list(chain(articles_generator.articles, articles_generator.hidden_articles,
                            articles_generator.drafts))
    members = [_Member(a.date, a.url, _relative(a), article=a) for a in everything]
    partitions = plan_for_settings(members, settings)
    feed_urls = _feed_urls(articles_generator)
    context = {name: _shown(name, articles_generator.context[name]) for name in SHARED_CONTEXT
               if name in articles_generator.context}
    content, output = Path(settings["PATH"]), Path(settings["OUTPUT_PATH"])
    kept = _KeptPartitions.for_build(plan, settings, output)
    results: dict[int, PartitionResult] = {}
    jobs: dict[int, PartitionJob] = {}
    inputs: dict[int, str] = {}
    for i, partition in enumerate(partitions):
        job, shown = _job(partition, plan, feed_urls, context)
        inputs[i] = kept.input_key(job, shown, content)
        found = kept.reuse(job.name, inputs[i])
        if found is not None:
            results[i] = found
        else:
            jobs[i] = job
    rendering = sum(len(jobs[i].files) for i in jobs)
    in_process = not engine.pays_for_a_local_cluster(rendering, _SECONDS_PER_ARTICLE) or len(jobs) < 2
    with engine.connect(plan.get("scheduler"), in_process=in_process) as run:
        if not run.shares_files:
            for job in jobs.values():
                job.carried = _read_carried(content, job.files)
        done = run.map(render_partition, (jobs[i] for i in sorted(jobs)), len(jobs), name="partition", batch_size=1)
        for i, result in zip(sorted(jobs), done):
            if result.files is not None:
                _write_files(output, result.files)
                result.files = None
            kept.keep(result, inputs[i])
            results[i] = result
    keys: dict[str, str] = {}
    facts: dict[str, dict[str, Any]] = {}
    counts = [0, 0]
    for i in sorted(results):  # in partition order, whichever finished first
        result = results[i]
        facts.update(result.facts)
        keys.update(result.keys)
        counts[0] += result.reused
        counts[1] += result.rendered
        if i in jobs and result.pid != os.getpid():
            for message in result.warnings:
                log.warning("%s", message)
    settings[FACTS] = facts
    settings[KEYS] = {"files": keys, "reused": counts[0], "rendered": counts[1]}
    settings[RUNS] = {"rendered": [partitions[i].name for i in sorted(jobs)],
                      "reused": [partitions[i].name for i in sorted(results) if i not in jobs]}
    log.info("partitions: %d rendered, %d unchanged", len(jobs), len(results) - len(jobs))
    for generator in generators:
        adopt = getattr(generator, "adopt_partitions", None)
        if adopt is not None:
            adopt()
    for article in everything:
        found = facts.get(article.url, {})
        if "script" in found and getattr(article, "display", None) is not None:
            article.display.script = found["script"]
        if "content" in found:
            article._content = found["content"]


def _shown(name: str, value: Any) -> Any:
    """What article pages show of a context value: of the graph's, its page's URL (its
    statistics change with every build and would make every partition's input differ)."""
    if name == "related_graph":
        return {"page_url": value["page_url"]}
    return value


def _relative(article) -> str:
    return Path(article.relative_source_path).as_posix()


def _feed_urls(generator) -> set[str]:
    """The articles whose text a feed of the driver shows: the newest FEED_MAX_ITEMS of all, of
    each category, tag and author that has a feed."""
    s = generator.settings
    if not any(s.get(name) for name in ("FEED_ATOM", "FEED_RSS", "FEED_ALL_ATOM", "FEED_ALL_RSS",
                                         "CATEGORY_FEED_ATOM", "CATEGORY_FEED_RSS", "TAG_FEED_ATOM",
                                         "TAG_FEED_RSS", "AUTHOR_FEED_ATOM", "AUTHOR_FEED_RSS",
                                         "TRANSLATION_FEED_ATOM", "TRANSLATION_FEED_RSS")):
        return set()
    most = s.get("FEED_MAX_ITEMS") or None
    groups = [generator.articles, *(a for _, a in generator.categories), *(a for _, a in generator.tags),
              *(a for _, a in generator.authors)]
    return {a.url for group in groups for a in list(group)[:most]}


def _job(partition, plan: dict[str, Any], feed_urls: set[str], context: dict[str, Any],
         ) -> tuple[PartitionJob, tuple[dict[str, ArticleSlice], dict[str, Any]]]:
    """The partition's task, and the slices and context it carries pickled (for its input key)."""
    slices = {}
    files = []
    for member in partition.entries:
        a = member.article
        display = getattr(a, "display", None)
        slices[member.path] = ArticleSlice(
            attributes={name: getattr(a, name) for name in SLICED_ATTRIBUTES if hasattr(a, name)},
            display={name: getattr(display, name) for name in SLICED_DISPLAY} if display is not None else {},
            feed=a.url in feed_urls)
        files.append(member.path)
    shared = pickle.dumps((slices, context), protocol=pickle.HIGHEST_PROTOCOL)
    return PartitionJob(partition.name, plan["settings"], plan["overrides"], files, shared), (slices, context)


def _read_carried(content: Path, files: list[str]) -> dict[str, bytes]:
    """The article files and, beside each, its earlier versions (broadsheet.versions)."""
    from broadsheet.versions import folder_of

    carried = {}
    for rel in files:
        carried[rel] = (content / rel).read_bytes()
        folder = folder_of(content / rel)
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    carried[path.relative_to(content).as_posix()] = path.read_bytes()
    return carried


class _KeptPartitions:
    """A rebuild's partitions whose inputs did not change since the previous build: their files
    are linked from the previous version and their facts read back, instead of a run.

    A partition's input key covers its content files and their earlier versions (by stamp: a
    file ingest rewrites never keeps its inode), its slice and context as pickled, and its name;
    settings, theme, plugins and code are covered by the rebuild's cache key, under which the
    partitions' results are kept. A partition is reused only when every file it wrote was
    recorded with a key the previous version's record holds too, and is still there."""

    def __init__(self, folder: Path | None, previous: Path | None, record: dict[str, str], output: Path):
        self.folder, self.previous, self.record, self.output = folder, previous, record, output

    @classmethod
    def for_build(cls, plan: dict[str, Any], settings: dict[str, Any], output: Path) -> _KeptPartitions:
        from broadsheet import reuse

        conf = settings.get(reuse.SETTING) or {}
        cache = plan["overrides"].get("CACHE_PATH")
        if not (conf.get("save") and cache and settings.get("LOAD_CONTENT_CACHE")):
            return cls(None, None, {}, output)
        record = {}
        if conf.get("previous") and conf.get("record"):
            try:
                record = json.loads(Path(conf["record"]).read_text(encoding="utf-8"))["files"]
            except (OSError, ValueError, KeyError, TypeError):
                record = {}
        return cls(Path(cache, "partitions"), Path(conf["previous"]) if conf.get("previous") else None,
                   record, output)

    def input_key(self, job: PartitionJob, shown: tuple[Any, Any], content: Path) -> str:
        from broadsheet.reuse import file_stamp, key_of
        from broadsheet.versions import folder_of

        if self.folder is None:
            return ""
        # Equal slices pickle to different bytes when their objects are shared differently: the
        # key digests their values as broadsheet.reuse does (None: no stable form, no reuse).
        digest = key_of(*shown)
        if digest is None:
            return ""
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{job.name}\0{digest}".encode())
        for rel in job.files:
            folder = folder_of(content / rel)
            earlier = sorted((p.name, file_stamp(p)) for p in folder.glob("*")) if folder.is_dir() else []
            h.update(repr((rel, file_stamp(content / rel), earlier)).encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def _path(self, name: str) -> Path:
        return self.folder / name / "result.pickle"

    def reuse(self, name: str, key: str) -> PartitionResult | None:
        from broadsheet.reuse import load_kept

        if self.folder is None or self.previous is None:
            return None
        kept = load_kept(self._path(name))
        if not (key and isinstance(kept, dict) and kept.get("input") == key and kept.get("complete")):
            return None
        result: PartitionResult = kept["result"]
        if any(self.record.get(rel) != k for rel, k in result.keys.items()):
            return None
        if not all(os.path.isfile(self.previous / rel) for rel in result.keys):
            return None
        for rel in result.keys:
            target = self.output / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(self.previous / rel, target)
            except FileExistsError:
                target.unlink()
                os.link(self.previous / rel, target)
        return dataclasses.replace(result, reused=result.reused + result.rendered, rendered=0)

    def keep(self, result: PartitionResult, key: str) -> None:
        from broadsheet.reuse import keep

        if self.folder is not None:
            keep(self._path(result.name), {"input": key, "complete": result.complete, "result": result})


def _write_files(output: Path, files: dict[str, bytes]) -> None:
    from broadsheet.files import atomic_write

    for rel in sorted(files):
        atomic_write(output / rel, files[rel])


# -- a partition run, on a worker ------------------------------------------------------------


def render_partition(job: PartitionJob) -> PartitionResult:
    """One partition's Pelican run: its articles' pages and files, and their facts."""
    from broadsheet import site

    overrides = dict(job.overrides)
    scratch = None
    if job.carried is not None:
        scratch = Path(tempfile.mkdtemp(prefix=f"broadsheet-partition-{job.name}-"))
        for rel, data in job.carried.items():
            target = scratch / "content" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        # The search part goes to the scratch folder too (the driver indexes what no part holds).
        overrides.update(PATH=str(scratch / "content"), OUTPUT_PATH=str(scratch / "output"),
                         CACHE_PATH=str(scratch / "cache"), LOAD_CONTENT_CACHE=False, CACHE_CONTENT=False,
                         SEARCH_INDEX_PATH=str(scratch / "search-index"))
        overrides.pop("REUSE_PREVIOUS", None)
    elif overrides.get("CACHE_PATH"):
        # Each partition keeps its own caches: the same files build after build, and no two
        # partitions rewrite one cache file at once.
        overrides["CACHE_PATH"] = os.path.join(overrides["CACHE_PATH"], "partitions", job.name)
    reuse_conf = overrides.get("REUSE_PREVIOUS")
    if reuse_conf:
        overrides["REUSE_PREVIOUS"] = {**reuse_conf, "save": None}  # the record goes back to the driver
    plugins = str(site.PROJECT / "plugins")
    if plugins not in sys.path:
        sys.path.append(plugins)
    slices, context = pickle.loads(job.shared)
    warnings = _Collector()
    root = logging.getLogger()
    root.addHandler(warnings)
    try:
        conf = site.build(None, None, job.settings, partitioned=False, **overrides, **{
            ROLE: PARTITION, SLICE: slices, CONTEXT: context, FACTS: {}, "ARTICLE_PATHS": list(job.files),
            "PAGE_PATHS": [], "THEME_STATIC_PATHS": [], "DIRECT_TEMPLATES": []})
    finally:
        root.removeHandler(warnings)
    kept = conf.get(KEYS) or {}
    files = None
    if scratch is not None:
        out = Path(conf["OUTPUT_PATH"])
        files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
        shutil.rmtree(scratch, ignore_errors=True)
    return PartitionResult(job.name, conf.get(FACTS) or {}, kept.get("files", {}), kept.get("reused", 0),
                           kept.get("rendered", 0), warnings.messages, files, len(job.files),
                           complete=bool(kept) and not kept.get("unkeyed", 1), pid=os.getpid())


class _Collector(logging.Handler):
    """The warnings of a partition run, for the driver to show in partition order."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        if record.levelno < logging.ERROR:
            self.messages.append(record.getMessage())


def apply_slices(generators) -> None:
    """all_generators_finalized, in a partition: give each article what the driver computed
    across the archive, over what this run could compute from its own articles."""
    from pelican.generators import ArticlesGenerator

    generator = next(g for g in generators if isinstance(g, ArticlesGenerator))
    generator.context.update(generator.settings[CONTEXT])
    slices = generator.settings[SLICE]
    for article in chain(generator.articles, generator.hidden_articles, generator.drafts):
        found = slices.get(_relative(article))
        if found is None:
            continue
        for name, value in found.attributes.items():
            setattr(article, name, value)
        display = getattr(article, "display", None)
        if display is not None:
            for name, value in found.display.items():
                setattr(display, name, value)
            facts_of(generator.settings, article.url)["script"] = display.script
        if found.feed:
            facts_of(generator.settings, article.url)["content"] = article._content
