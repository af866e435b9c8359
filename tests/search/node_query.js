// Runs queries through the browser search engine under Node, reading shards from disk.
// usage: node node_query.js THEME_JS_DIR SEARCH_DIR < queries.json  -> JSON results on stdout
"use strict";
const fs = require("fs"), path = require("path"), vm = require("vm");
const [jsDir, indexDir] = process.argv.slice(2);
for (const f of ["search-analysis.js", "search-engine.js"]) {
  vm.runInThisContext(fs.readFileSync(path.join(jsDir, f), "utf8"), { filename: f });
}
const bytes = { total: 0 };
function loadScript(url) {
  const file = path.join(indexDir, url.replace(/^.*?search\//, "").replace(/\?.*$/, ""));
  const text = fs.readFileSync(file, "utf8");
  bytes.total += Buffer.byteLength(text);
  vm.runInThisContext(text, { filename: file });
  return Promise.resolve();
}
const input = JSON.parse(fs.readFileSync(0, "utf8"));
(async () => {
  const out = { analyse: (input.analyse || []).map((t) => BroadsheetAnalysis.analyse(t)), queries: [] };
  for (const q of input.queries || []) {
    const engine = BroadsheetSearch.createEngine({ base: "search/", loadScript });  // cold cache per query
    bytes.total = 0;
    const started = process.hrtime.bigint();
    try {
      const r = await engine.search(q);
      const top = r.hits.slice(0, input.limit || 10);
      const docs = await engine.documents(top.map((h) => h.doc));
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      out.queries.push({ query: q, total: r.hits.length, urls: docs.map((d) => d.url),
                         scores: top.map((h) => h.score), bytes: bytes.total, ms, shards: engine.loaded() });
    } catch (e) {
      out.queries.push({ query: q, error: String(e.message || e) });
    }
  }
  process.stdout.write(JSON.stringify(out));
})();
