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
#: Partition: the job's `shared`, pickled ({relative source path: ArticleSlice}, {context name:
#: value}); unpickled once Pelican has loaded the plugins whose values it holds.
SHARED = "PARTITION_SHARED"
#: Both: {article URL: {fact name: value}}; partitions fill it, the driver reads it.
FACTS = "PARTITION_FACTS"
#: Both: {output path: reuse key} of the files partitions wrote (the driver records them).
KEYS = "PARTITION_KEYS"
#: Driver: {"rendered": [partition names], "reused": [...], "read": {name: articles read},
#: "runs": Pelican runs}, for the rebuild's report.
RUNS = "PARTITION_RUNS"
#: Partition: {relative source path: (URL, output path)} of every article the run read.
READ = "PARTITION_READ"

#: Attributes the driver's plugins attach to an article that its partition's pages show.
SLICED_ATTRIBUTES = ("related", "cited_by", "neighbourhood", "facet_links", "dataset", "text_dateline")
#: Driver: {attribute name: (ids of the articles that have it, make(article))} for sliced
#: attributes made only when their partition's job is: the driver never holds them all.
SLICE_MAKERS = "PARTITION_SLICE_MAKERS"
#: Fields of `article.display` computed across the archive.
SLICED_DISPLAY = ("earlier", "later", "signature_url")
#: What the driver's plugins put in the context that a partition's pages show.
SHARED_CONTEXT = ("related_graph", "deposit")
#: Seconds one article costs a partition run on one core (rendering most of it): what decides
#: whether a local cluster pays for its start (`engine.pays_for_a_local_cluster`).
_SECONDS_PER_ARTICLE = 0.004


def role(settings: dict[str, Any]) -> str | None:
    return settings.get(ROLE)


def is_partition(settings: dict[str, Any]) -> bool:
    return settings.get(ROLE) == PARTITION


def is_driver(settings: dict[str, Any]) -> bool:
    return settings.get(ROLE) == DRIVER


def make_when_sliced(settings: dict[str, Any], name: str, holders: set[int], make) -> None:
    """Driver: the sliced attribute `name` of the articles whose ids are `holders` is
    `make(article)`, computed when the article's partition gets its job, not kept after."""
    settings.setdefault(SLICE_MAKERS, {})[name] = (holders, make)


def facts_of(settings: dict[str, Any], url: str) -> dict[str, Any]:
    """In a partition: the facts of one article, for its plugins to fill."""
    return settings.setdefault(FACTS, {}).setdefault(url, {})


def facts_in_order(settings: dict[str, Any], articles, name: str, *default: Any):
    """In the driver: the fact `name` of each of `articles`, one at a time, in their order
    (the driver does not hold every article's data rows at once); KeyError for an article
    without it, unless a `default` is given."""
    return settings[FACTS].each([a.url for a in articles], name, *default)


def forget_facts(settings: dict[str, Any]) -> None:
    """finalized, in the driver: the facts' file goes with the build."""
    store = settings.pop(FACTS, None)
    if store is not None:  # absent when the build stopped before its partitions
        store.close()


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
    #: values, which a worker can unpickle only once Pelican has loaded the plugins.
    shared: bytes | None
    #: On a cluster that does not share this machine's files: {relative path: bytes} of the
    #: article files and the earlier versions beside them; None: the worker reads the folder.
    carried: dict[str, bytes] | None = None
    #: Only some of the partition's articles (the others are linked from the previous version):
    #: the run leaves the partition's caches alone, which hold all of them.
    some: bool = False


@dataclass
class ArticleOutput:
    """What a partition run made of one article: the files it wrote (with their reuse keys)
    and its facts. A rebuild whose inputs for the article are the same links the files from
    the previous version and reads the facts back, instead of reading the article again."""

    url: str
    files: dict[str, str]
    facts: dict[str, Any]


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
    #: {relative source path: its output} of every article, None when some file it wrote
    #: could not be told apart as one article's (then the partition is rendered whole again)
    outputs: dict[str, ArticleOutput] | None = None
    read: int = 0  # articles its Pelican run read (for a partition rendered in part, the changed ones)


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
    from broadsheet.fact_store import FactStore
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
    makers = settings.get(SLICE_MAKERS) or {}
    store = FactStore()
    results: dict[int, PartitionResult] = {}  # without their facts, which are in `store`
    jobs: dict[int, PartitionJob | None] = {}  # None: made as it is sent
    inputs: dict[int, dict[str, str]] = {}
    for i, partition in enumerate(partitions):
        if kept.previous is None:
            # Nothing to reuse: each job is made as the engine takes it, so that the driver
            # holds the slices of a few partitions at a time, not of the whole archive.
            jobs[i] = None
            continue
        job, shown = _job(partition, plan, feed_urls, context, makers)
        inputs[i] = kept.input_keys(job, shown, content)
        found = kept.reuse(job, shown, inputs[i])  # else `job` keeps only the articles to render
        if found is not None:
            results[i] = _stored(found, store)
        else:
            if job.shared is None:
                job.shared = _pickled(shown)
            jobs[i] = job
    rendering = sum(len(partitions[i].entries) if jobs[i] is None else len(jobs[i].files) for i in jobs)
    runs = kept.runs(jobs) if kept.previous is not None else [([i], None) for i in sorted(jobs)]
    rendered = sorted(jobs)
    in_process = not engine.pays_for_a_local_cluster(rendering, _SECONDS_PER_ARTICLE) or len(runs) < 2

    def sent(shares_files: bool):
        for indexes, job in runs:
            if job is None:
                (i,) = indexes
                job, shown = _job(partitions[i], plan, feed_urls, context, makers)
                inputs[i] = kept.input_keys(job, shown, content)
                job.shared = _pickled(shown)
                jobs[i] = dataclasses.replace(job, shared=b"")  # what `_split` reads: its name and files
            if not shares_files:
                job.carried = _read_carried(content, job.files)
            yield job

    with engine.connect(plan.get("scheduler"), in_process=in_process) as run:
        # No partition is rendered here while a local cluster starts: the driver would hold a
        # partition's articles on top of the whole archive's front matter.
        run.wait_until_started()
        done = run.map(render_partition, sent(run.shares_files), len(runs), name="partition", batch_size=1)
        for (indexes, _), result in zip(runs, done):
            if result.files is not None:
                _write_files(output, result.files)
                result.files = None
            for i, part in zip(indexes, _split(result, [jobs[i] for i in indexes])):
                results[i] = _stored(kept.keep(part, inputs[i]), store)
    keys: dict[str, str] = {}
    counts = [0, 0]
    for i in sorted(results):  # in partition order, whichever finished first
        result = results[i]
        keys.update(result.keys)
        counts[0] += result.reused
        counts[1] += result.rendered
        if i in rendered and result.pid != os.getpid():
            for message in result.warnings:
                log.warning("%s", message)
    settings[FACTS] = store
    settings[KEYS] = {"files": keys, "reused": counts[0], "rendered": counts[1]}
    settings[RUNS] = {"rendered": [partitions[i].name for i in rendered],
                      "reused": [partitions[i].name for i in sorted(results) if i not in jobs],
                      "read": {partitions[i].name: results[i].read for i in rendered}, "runs": len(runs)}
    log.info("partitions: %d rendered, %d unchanged", len(rendered), len(results) - len(rendered))
    for generator in generators:
        adopt = getattr(generator, "adopt_partitions", None)
        if adopt is not None:
            adopt()
    by_url = {article.url: article for article in everything}
    for url, script in store.named("script"):
        article = by_url.get(url)
        if article is not None and getattr(article, "display", None) is not None:
            article.display.script = script
    for url, content in store.named("content"):
        if url in by_url:
            by_url[url]._content = content


def _stored(result: PartitionResult, store) -> PartitionResult:
    """The result without its facts, which go to `store`: the driver holds one partition's
    facts at a time, not the archive's."""
    store.add(result.facts)
    return dataclasses.replace(result, facts={}, outputs=None)


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


def _job(partition, plan: dict[str, Any], feed_urls: set[str], context: dict[str, Any], makers: dict[str, Any],
         ) -> tuple[PartitionJob, tuple[dict[str, ArticleSlice], dict[str, Any]]]:
    """The partition's task (its `shared` not yet pickled), and the slices and context it
    carries (for its input key)."""
    slices = {}
    files = []
    for member in partition.entries:
        a = member.article
        display = getattr(a, "display", None)
        attributes = {name: getattr(a, name) for name in SLICED_ATTRIBUTES if hasattr(a, name)}
        for name, (holders, make) in makers.items():
            if id(a) in holders:
                attributes[name] = make(a)
        slices[member.path] = ArticleSlice(
            attributes={name: attributes[name] for name in SLICED_ATTRIBUTES if name in attributes},
            display={name: getattr(display, name) for name in SLICED_DISPLAY} if display is not None else {},
            feed=a.url in feed_urls)
        files.append(member.path)
    return PartitionJob(partition.name, plan["settings"], plan["overrides"], files, None), (slices, context)


def _pickled(shown: tuple[dict[str, ArticleSlice], dict[str, Any]]) -> bytes:
    """What a job carries of its slices and context (pickled only for a job that is sent)."""
    return pickle.dumps(shown, protocol=pickle.HIGHEST_PROTOCOL)


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
    """What a rebuild's partitions made of each article, kept for the next rebuild: an article
    whose inputs did not change since is not read again; its files are linked from the previous
    version and its facts read back. A partition runs Pelican only over the articles that
    changed (none: no run), so a rebuild costs what changed, not the size of the partitions.

    An article's input key covers its content file and earlier versions (by stamp: a file
    ingest rewrites never keeps its inode), its slice (by value) and the partition's context;
    settings, theme, plugins and code are covered by the rebuild's cache key, under which the
    outputs are kept. The output a partition writes for an article depends on nothing else,
    whichever articles share its run (the build is the same for any partitioning). An article
    is reused only when every file it wrote was recorded with a key the previous version's
    record holds too, and is still there to be linked."""

    def __init__(self, folder: Path | None, previous: Path | None, record: dict[str, str], output: Path):
        self.folder, self.previous, self.record, self.output = folder, previous, record, output
        #: {partition name: {relative source path: ArticleOutput}} linked by `reuse`, until `keep`
        self.linked: dict[str, dict[str, ArticleOutput]] = {}
        self.before: dict[str, set[str]] = {}  # {partition name: its articles kept before}
        #: {partition name: (its slices to render, the context)} of partitions rendered in part
        self.narrowed: dict[str, tuple[dict[str, ArticleSlice], Any]] = {}
        self._folders: set[Path] = set()

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

    def input_keys(self, job: PartitionJob, shown: tuple[dict[str, ArticleSlice], Any], content: Path,
                   ) -> dict[str, str]:
        """{relative source path: input key} of the partition's articles ({}: nothing is kept)."""
        from broadsheet.cache import stamp
        from broadsheet.reuse import key_of
        from broadsheet.versions import folder_of

        if self.folder is None:
            return {}
        slices, context = shown
        # Values, not their pickles: equal slices pickle to different bytes when their objects
        # are shared differently (None: no stable form, so the article is rendered).
        shared = key_of(context)
        keys = {}
        for rel in job.files:
            own = key_of(slices.get(rel))
            if shared is None or own is None:
                continue
            folder = folder_of(content / rel)
            earlier = sorted((p.name, stamp(p)) for p in folder.glob("*")) if folder.is_dir() else []
            text = repr((rel, stamp(content / rel), earlier, own, shared))
            keys[rel] = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        return keys

    def _kept(self, name: str) -> Path:
        return self.folder / name / "articles"

    def reuse(self, job: PartitionJob, shown: tuple[dict[str, ArticleSlice], Any], keys: dict[str, str],
              ) -> PartitionResult | None:
        """The partition's result when no article of it changed; else None, and `job` narrowed
        to the articles that changed (all of them when nothing of the partition is kept)."""
        from broadsheet.reuse import load_kept_map

        if self.folder is None or self.previous is None or not keys:
            return None
        kept = load_kept_map(self._kept(job.name))
        self.before[job.name] = set(kept)
        linked: dict[str, ArticleOutput] = {}
        for rel in job.files:
            entry = kept.get(rel)
            if not (isinstance(entry, tuple) and len(entry) == 2 and keys.get(rel) == entry[0]):
                continue
            out: ArticleOutput = entry[1]
            if all(self.record.get(f) == k for f, k in out.files.items()) and self._link(out.files):
                linked[rel] = out
        if len(linked) == len(job.files):
            return PartitionResult(job.name, {out.url: out.facts for out in linked.values()},
                                   {f: k for out in linked.values() for f, k in out.files.items()},
                                   sum(len(out.files) for out in linked.values()), 0, [],
                                   articles=len(job.files), complete=True, outputs=linked)
        self.linked[job.name] = linked
        if linked:
            slices, context = shown
            job.files = [rel for rel in job.files if rel not in linked]
            self.narrowed[job.name] = ({rel: slices[rel] for rel in job.files if rel in slices}, context)
            job.shared = _pickled(self.narrowed[job.name])
            job.some = True
        return None

    def runs(self, jobs: dict[int, PartitionJob]) -> list[tuple[list[int], PartitionJob]]:
        """The Pelican runs that render `jobs`, each with the partitions it renders: one for
        all the partitions rendered in part (a rebuild's few changed articles cost one run's
        start, not one per partition; what a run writes of an article depends on the article
        only), one for each partition rendered whole."""
        some = [i for i in sorted(jobs) if jobs[i].some]
        runs = [([i], jobs[i]) for i in sorted(jobs) if i not in some[1:] or len(some) < 2]
        if len(some) < 2:
            return runs
        slices: dict[str, ArticleSlice] = {}
        for i in some:
            slices.update(self.narrowed[jobs[i].name][0])
        first = jobs[some[0]]
        together = dataclasses.replace(
            first, name=f"{first.name}+{len(some) - 1}", files=[rel for i in some for rel in jobs[i].files],
            shared=_pickled((slices, self.narrowed[first.name][1])))
        return [(some, together) if r[0] == [some[0]] else r for r in runs]

    def _link(self, files: dict[str, str]) -> bool:
        """Link one article's files from the previous version; False (and none linked) when
        one of them is gone from it."""
        done = []
        for rel in files:
            target = self.output / rel
            if target.parent not in self._folders:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._folders.add(target.parent)
            try:
                try:
                    os.link(self.previous / rel, target)
                except FileExistsError:
                    target.unlink()
                    os.link(self.previous / rel, target)
            except OSError:
                for made in done:
                    made.unlink(missing_ok=True)
                return False
            done.append(target)
        return True

    def keep(self, result: PartitionResult, keys: dict[str, str]) -> PartitionResult:
        """The partition's whole result, its linked articles' and its run's; what it made of
        each article is kept for the next rebuild (only the articles that changed are written)."""
        from broadsheet.reuse import forget_map, keep_map

        linked = self.linked.pop(result.name, {})
        if linked:
            files = {f: k for out in linked.values() for f, k in out.files.items()}
            result = dataclasses.replace(
                result, facts={**{out.url: out.facts for out in linked.values()}, **result.facts},
                keys={**files, **result.keys}, reused=result.reused + len(files),
                articles=result.articles + len(linked),
                outputs=None if result.outputs is None else {**linked, **result.outputs})
        if self.folder is None:
            return result
        folder = self._kept(result.name)
        if result.outputs is None or not result.complete:
            log.info("partition %s: some file it wrote is no one article's, or has no key; it is rendered "
                     "whole at every rebuild", result.name)
            forget_map(folder)
            return result
        made = {rel: (keys[rel], out) for rel, out in result.outputs.items() if rel in keys}
        before = self.before.pop(result.name, set())
        if not linked:  # the whole partition was rendered: every kept entry is written anew
            forget_map(folder)
            before = set()
        keep_map(folder, made, [*(rel for rel in result.outputs if rel not in linked), *(before - made.keys())])
        return result


def _split(result: PartitionResult, jobs: list[PartitionJob]) -> list[PartitionResult]:
    """The result of a run that rendered (part of) several partitions, as each partition's:
    its articles' facts and files. The run's counts and warnings go with the first; a result
    whose files are not told apart by article goes whole to the first (nothing is kept)."""
    if len(jobs) == 1:
        return [result]
    if result.outputs is None:
        return [dataclasses.replace(result, name=jobs[0].name),
                *(PartitionResult(job.name, {}, {}, 0, 0, [], pid=result.pid) for job in jobs[1:])]
    parts = []
    for n, job in enumerate(jobs):
        outputs = {rel: result.outputs[rel] for rel in job.files if rel in result.outputs}
        parts.append(PartitionResult(
            job.name, {out.url: out.facts for out in outputs.values()},
            {f: k for out in outputs.values() for f, k in out.files.items()},
            result.reused if n == 0 else 0, result.rendered if n == 0 else 0, result.warnings if n == 0 else [],
            articles=len(job.files), complete=result.complete, pid=result.pid, outputs=outputs, read=len(outputs)))
    return parts


def _write_files(output: Path, files: dict[str, bytes]) -> None:
    from broadsheet.files import atomic_write

    for rel in sorted(files):
        atomic_write(output / rel, files[rel])


# -- a partition run, on a worker ------------------------------------------------------------


def render_partition(job: PartitionJob) -> PartitionResult:
    """One partition's Pelican run: its articles' pages and files, and their facts."""
    from broadsheet import pelican_internals, site

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
        if job.some:  # a few articles: loading and saving caches of all of them costs more than they save
            overrides.update(LOAD_CONTENT_CACHE=False, CACHE_CONTENT=False)
    reuse_conf = overrides.get("REUSE_PREVIOUS")
    if reuse_conf:
        overrides["REUSE_PREVIOUS"] = {**reuse_conf, "save": None}  # the record goes back to the driver
    warnings = _Collector()
    root = logging.getLogger()
    root.addHandler(warnings)
    try:
        conf = site.build(None, None, job.settings, partitioned=False, **overrides, **{
            ROLE: PARTITION, SHARED: job.shared, FACTS: {}, READ: {}, "ARTICLE_PATHS": list(job.files),
            "PAGE_PATHS": [], "THEME_STATIC_PATHS": [], "DIRECT_TEMPLATES": []})
    finally:
        root.removeHandler(warnings)
        pelican_internals.forget_rendered_content()  # a worker goes on to other partitions
    kept = conf.get(KEYS) or {}
    files = None
    if scratch is not None:
        out = Path(conf["OUTPUT_PATH"])
        files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
        shutil.rmtree(scratch, ignore_errors=True)
    facts, keys, read = conf.get(FACTS) or {}, kept.get("files", {}), conf.get(READ) or {}
    return PartitionResult(job.name, facts, keys, kept.get("reused", 0), kept.get("rendered", 0),
                           warnings.messages, files, len(job.files),
                           complete=bool(kept) and not kept.get("unkeyed", 1), pid=os.getpid(),
                           outputs=_by_article(read, facts, keys), read=len(read))


def _by_article(read: dict[str, tuple[str, str]], facts: dict[str, dict[str, Any]], keys: dict[str, str],
                ) -> dict[str, ArticleOutput] | None:
    """The files and facts of each article the run read. An article's files are its page and
    those named after it (`<page without .html>.bib`, `<page without .html>/v1.html`); None when
    a file or fact belongs to no article or to more than one (slugs that are prefixes of each
    other's with a dot: the partition is then rendered whole at every rebuild)."""
    stems: dict[str, str] = {}
    urls: dict[str, str] = {}
    for rel, (url, save_as) in read.items():
        stem = save_as[: -len(".html")] if save_as.endswith(".html") else save_as
        if stem in stems or url in urls:
            return None
        stems[stem], urls[url] = rel, rel
    if not facts.keys() <= urls.keys():
        return None
    outputs = {rel: ArticleOutput(url, {}, facts.get(url, {})) for rel, (url, _) in read.items()}
    for path, key in keys.items():
        owners = {stems[path[:i]] for i, c in enumerate(path) if c in "./" and path[:i] in stems}
        if len(owners) != 1:
            return None
        outputs[owners.pop()].files[path] = key
    return outputs


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
    slices, context = pickle.loads(generator.settings[SHARED])
    generator.context.update(context)
    read = generator.settings.setdefault(READ, {})
    for article in chain(generator.articles, generator.hidden_articles, generator.drafts):
        read[_relative(article)] = (article.url, article.save_as)
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
