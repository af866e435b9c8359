"""broadsheet/pelican_internals.py: what it reads of Pelican is there, and clearing it lets a
long-lived process (a Dask worker) forget the articles of the runs it has finished."""

from __future__ import annotations

import gc
import weakref
from importlib.metadata import version

from broadsheet import pelican_internals, site
from conftest import ROOT, ingest_into


def test_the_installed_pelican_is_the_one_checked():
    assert pelican_internals.checked(), (
        f"Pelican {version('pelican')} is installed; broadsheet/pelican_internals.py was checked against "
        f"{pelican_internals.PELICAN_CHECKED}: read Content.get_content/get_summary in pelican/contents.py "
        "again and update the module")


def test_a_finished_run_leaves_no_article_behind(tmp_path):
    """As a worker does: a run, then another; the first run's articles are gone."""
    from pelican.contents import Article

    ingest_into(ROOT / "raw", tmp_path / "content")

    def run(n: int) -> None:
        site.build(tmp_path / "content", tmp_path / f"site{n}", "local", partitioned=False,
                   SEARCH_INDEX_PATH=str(tmp_path / f"index{n}"), RELATED_GRAPH_REPORT=str(tmp_path / "graph.json"),
                   SEARCH_IN_PARALLEL=False)
        pelican_internals.forget_rendered_content()
        gc.collect()

    run(1)
    first = [weakref.ref(o) for o in gc.get_objects() if isinstance(o, Article)]
    assert len(first) > 30
    run(2)
    assert [r() for r in first if r() is not None] == []
