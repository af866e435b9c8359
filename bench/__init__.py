"""The benchmark (`invoke bench`): Broadsheet against what an archivist would use instead, side by
side. It drives the library and the plugins from outside, as an archivist's run does, and is no
part of either; the results files beside this package (`results*.json`, `results*.md`) are its
published figures.

`benchmark.run_benchmark` generates a synthetic corpus (`broadsheet.corpus`) and measures, each
step in its own Python process (`harness`):

- ingest: dumps per second (`broadsheet.ingest`);
- a cold Broadsheet build (`broadsheet.site.build`, pelicanconf.py) against a cold bare Pelican
  build of the same Markdown (`pipeline.BARE_PELICAN`: YAML reader, default theme, no other
  plugin), fresh output and cache folders for both; the ratio of the two;
- the related graph's resolution time, as the plugin reports it (RELATED_GRAPH_REPORT);
- the Whoosh index built from scratch with the search plugin's `update_index`, and the
  browser shards with its `export_browser_index`;
- CLI query latency (p50/p95) through the search plugin's `search`, over `search.CLI_QUERIES`;
- the offline zip (`broadsheet.archive.offline.make_offline_zip`): its size and time;
- an incremental rebuild after `pipeline.CHANGED_DUMPS` changed dumps (`broadsheet.rebuild`), as
  a ratio to a from-scratch rebuild of the same pipeline and to the full build;
- browser search in headless Chromium over a loopback HTTP server: bytes loaded after the
  reader starts typing and time to the first result, Broadsheet's `search.html` against
  Pagefind's default UI on the same built site;
- the FA-KES table (CSV + mapping) when it is present: rows per second and build times;
- web archives (`broadsheet.webarchive`): the synthetic articles as Al-Alam-style HTML pages in a
  WARC, HTML pages per second (wall clock, and per CPU-second of the reading process and its
  workers); then the same pages among incompressible image records up to half a MiB per
  article (at most `pipeline.WEB_ARCHIVE_MIB`), whose peak memory, beside the first's, shows
  whether reading is streamed.

`at_scale.run_scale` (`--scale N`) runs the rebuild alone at a larger size, `at_scale.run_search_scale`
(`--search-scale N`) search alone, without building a site. `report` judges the targets and
writes the tables. Timings are wall-clock on a shared machine: read them with the load average
recorded beside them.

Modules: `harness` (a step's process, its time and memory), `pipeline` and `search` (the
measures), `benchmark` and `at_scale` (the runs), `report` (targets, tables, files), `__main__` (the
step processes' entry point).
"""
