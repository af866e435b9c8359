// Runs queries through the browser search engine under Node, reading shards from disk.
// usage: node node_query.js THEME_JS_DIR SEARCH_DIR < queries.json  -> JSON results on stdout
// With "all": true every match is ranked (else a word or words ANDed may give the best only);
// "best": N asks for the N best (10 without), "year": Y for the best of year Y only.
// Each query runs in a fresh context (nothing loaded by an earlier query), so `bytes` and
// `shards` are what a reader's first query loads, meta.js aside (the page loads it on opening).
"use strict";
const fs = require("fs"), path = require("path"), vm = require("vm");
const [jsDir, indexDir] = process.argv.slice(2);
const engineSources = ["search-analysis.js", "search-engine.js"].map((f) => [f, fs.readFileSync(path.join(jsDir, f), "utf8")]);

function freshContext() {
  const ctx = vm.createContext({ console, bytes: 0 });
  ctx.globalThis = ctx;
  for (const [f, src] of engineSources) vm.runInContext(src, ctx, { filename: f });
  ctx.loadScript = (url) => {
    const rel = url.replace(/^.*?search\//, "").replace(/\?.*$/, "");
    const text = fs.readFileSync(path.join(indexDir, rel), "utf8");
    if (rel !== "meta.js") ctx.bytes += Buffer.byteLength(text);
    vm.runInContext(text, ctx, { filename: rel });
    return Promise.resolve();
  };
  return ctx;
}

const RUN = `(async (q, limit, all, best, year) => {
  const engine = BroadsheetSearch.createEngine({ base: "search/", loadScript });
  const started = Date.now();
  const accept = year ? (doc, y) => y === year : null;
  const r = await engine.search(q, { all: all, best: best, accept: accept });
  const top = r.hits.slice(0, limit);
  const docs = await engine.documents(top.map((h) => h.doc));
  return { total: r.hits.length, complete: r.complete, urls: docs.map((d) => d.url), scores: top.map((h) => h.score),
           years: top.map((h) => h.year),
           ms: Date.now() - started, shards: engine.loaded().filter((s) => s !== "meta.js") };
})`;

const input = JSON.parse(fs.readFileSync(0, "utf8"));
(async () => {
  const first = freshContext();
  const out = { analyse: (input.analyse || []).map((t) => first.BroadsheetAnalysis.analyse(t)), queries: [] };
  for (const q of input.queries || []) {
    const ctx = freshContext();
    try {
      const r = await vm.runInContext(RUN, ctx)(q, input.limit || 10, !!input.all, input.best || 0, input.year || 0);
      out.queries.push({ query: q, ...r, bytes: ctx.bytes });
    } catch (e) {
      out.queries.push({ query: q, error: String(e.message || e) });
    }
  }
  process.stdout.write(JSON.stringify(out));
})();
