/* Broadsheet search: the browser index and BM25F ranking, as Whoosh ranks.
 *
 * Shards are plain scripts (written by plugins/search_index/export.py) that call
 * BroadsheetSearch.register(kind, id, data). They are added as <script> tags on demand,
 * which works over HTTP and from file:// alike (no fetch, no XHR, no modules, no wasm).
 * A query loads meta.js once, the term buckets its words hash to, then the long posting
 * lists of its words that have a file of their own (and, for a "phrase", the positions of
 * its words likewise), and the document shards of the results on screen. Needs
 * search-analysis.js. Also runs under Node (tests), where `loadScript` is supplied by the caller.
 */
(function (root) {
  "use strict";
  var A = root.BroadsheetAnalysis;
  var store = { meta: {}, terms: {}, positions: {}, list: {}, positionList: {}, docs: {}, facet: {} };
  /* Where each kind of file lies (export.py: shard_path). */
  var FOLDERS = { terms: "t", positions: "p", list: "l", positionList: "q", docs: "d", facet: "f" };

  function register(kind, id, data) { store[kind][id] = data; }

  function fnv1a(text) {
    var h = 0x811c9dc5;
    for (var ch of text) { h = (h ^ ch.codePointAt(0)) >>> 0; h = Math.imul(h, 0x01000193) >>> 0; }
    return h;
  }

  function browserLoadScript(url) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = url;
      s.async = true;
      s.onload = function () { resolve(); };
      s.onerror = function () { reject(new Error("could not load " + url)); };
      document.head.appendChild(s);
    });
  }

  function createEngine(options) {
    var base = options.base.replace(/\/?$/, "/");
    var loadScript = options.loadScript || browserLoadScript;
    var pending = {}, loaded = [], meta = null, decoded = {}, digitOf = null;

    function load(kind, id) {
      var key = kind + ":" + id, path = kind === "meta" ? "meta.js"
        : FOLDERS[kind] + "/" + Math.floor(id / meta.folderSize) + "/" + id + ".js";
      if (store[kind][id] !== undefined) return Promise.resolve(store[kind][id]);
      if (!pending[key]) {
        var url = base + path + (meta ? "?v=" + meta.version : "");
        pending[key] = loadScript(url).then(function () {
          if (store[kind][id] === undefined) throw new Error(url + " loaded but registered no " + kind + " data");
          loaded.push(path);
          return store[kind][id];
        }, function (err) { delete pending[key]; throw err; });
      }
      return pending[key];
    }

    function ready() {
      if (meta) return Promise.resolve(meta);
      return load("meta", 0).then(function (m) {
        if (!m || m.format !== 3) throw new Error("meta.js is of an unknown format");
        meta = m;
        digitOf = {};
        for (var k = 0; k < m.digits.length; k++) digitOf[m.digits.charCodeAt(k)] = k;
        return m;
      });
    }

    /* The numbers of a string written by export.encode_numbers: digits below `terminal`
     * end a number, the others are its leading digits (base digits.length - terminal). */
    function decodeNumbers(text) {
      var out = [], acc = 0, T = meta.terminal, C = meta.digits.length - T;
      for (var i = 0; i < text.length; i++) {
        var d = digitOf[text.charCodeAt(i)];
        if (d >= T) acc = acc * C + d - T;
        else { out.push(acc * T + d); acc = 0; }
      }
      return out;
    }

    function keyOf(term) { return Array.from(term).slice(0, meta.keyLength).join(""); }
    function shardOf(term) { return fnv1a(keyOf(term)) % meta.termShards; }

    /* What a bucket holds for a term in a field: its postings (or positions), the number of
     * the file that holds them, or undefined. */
    function entry(kind, field, term) { return ((store[kind][shardOf(term)] || {})[field] || {})[term]; }

    /* Buckets needed by a query tree ("terms:3", "positions:3"...); an error for an unusable prefix. */
    function bucketsFor(node, acc) {
      if (!node) return acc;
      if (node.op === "term") acc["terms:" + shardOf(node.term)] = true;
      else if (node.terms) node.terms.forEach(function (t) {
        acc["terms:" + shardOf(t)] = true;
        if (node.op === "phrase") acc["positions:" + shardOf(t)] = true;
      });
      else if (node.op === "prefix") {
        if (Array.from(node.prefix).length < meta.keyLength) {
          throw new QueryError("a prefix search needs at least " + meta.keyLength +
                               " letters before the * (" + node.raw + ")");
        }
        node.beginnings.concat(node.whole).forEach(function (t) { acc["terms:" + shardOf(t)] = true; });
      }
      (node.children || []).forEach(function (c) { bucketsFor(c, acc); });
      if (node.child) bucketsFor(node.child, acc);
      return acc;
    }

    /* Long lists needed by a query tree, once its buckets are loaded ("list:12"...): those of
     * its words in the fields it searches. */
    function listsFor(node, acc) {
      if (!node) return acc;
      function need(fields, t, phrase) {
        fields.forEach(function (f) {
          var e = entry("terms", f, t);
          if (typeof e === "number") acc["list:" + e] = true;
          e = phrase ? entry("positions", f, t) : undefined;
          if (typeof e === "number") acc["positionList:" + e] = true;
        });
      }
      if (node.op === "term") need(fieldsOf(node), node.term, false);
      else if (node.terms) node.terms.forEach(function (t) { need(fieldsOf(node), t, node.op === "phrase"); });
      else if (node.op === "prefix") fieldsOf(node).forEach(function (f) {
        prefixTerms(f, node).forEach(function (t) { need([f], t, false); });
      });
      (node.children || []).forEach(function (c) { listsFor(c, acc); });
      if (node.child) listsFor(node.child, acc);
      return acc;
    }

    function loadAll(keys) {
      return Promise.all(Object.keys(keys).map(function (key) {
        var at = key.indexOf(":");
        return load(key.slice(0, at), +key.slice(at + 1));
      }));
    }

    /* {df, docs, weights, lengths} of a term in a field (see export.py for the layout). */
    function postings(field, term) {
      var cacheKey = field + "\u0000" + term;
      if (decoded[cacheKey]) return decoded[cacheKey];
      var text = entry("terms", field, term);
      if (typeof text === "number") text = store.list[text];
      if (!text) return null;
      var flat = decodeNumbers(text), lengths = meta.lengths, minCode = meta.fields[field].minCode;
      var p = { df: flat[0], docs: [], weights: [], lengths: [], positions: null }, i = 1, doc = 0;
      while (i < flat.length) {
        doc += flat[i];
        var v = flat[i + 1];
        p.docs.push(doc);
        p.lengths.push(lengths[(v >> 1) + minCode]);
        if (v & 1) { p.weights.push(flat[i + 2] + 2); i += 3; }
        else { p.weights.push(1); i += 2; }
      }
      decoded[cacheKey] = p;
      return p;
    }

    /* Word positions of a term in each document of its postings (from p/<n>.js). */
    function positionsOf(field, term, p) {
      if (p.positions) return p.positions;
      var text = entry("positions", field, term);
      if (typeof text === "number") text = store.positionList[text];
      var flat = text ? decodeNumbers(text) : [], out = [], i = 0;
      while (i < flat.length) {
        var n = flat[i], pos = [], last = 0;
        for (var k = 1; k <= n; k++) { last += flat[i + k]; pos.push(last); }
        out.push(pos);
        i += n + 1;
      }
      p.positions = out;
      return out;
    }

    function indexOfDoc(docs, d) {
      var lo = 0, hi = docs.length - 1;
      while (lo <= hi) { var mid = (lo + hi) >> 1; if (docs[mid] < d) lo = mid + 1; else if (docs[mid] > d) hi = mid - 1; else return mid; }
      return -1;
    }

    // Whoosh: idf = log(N / (df + 1)) + 1 with N counting deleted documents; bm25 as in
    // whoosh.scoring.bm25, multiplied by the query boost.
    function termScores(field, term, boost) {
      var p = postings(field, term), out = new Map();
      if (!p) return out;
      var f = meta.fields[field], idf = Math.log(meta.docCountAll / (p.df + 1)) + 1;
      for (var j = 0; j < p.docs.length; j++) {
        var tf = p.weights[j];
        var s = idf * ((tf * (meta.K1 + 1)) / (tf + meta.K1 * ((1 - meta.B) + meta.B * p.lengths[j] / f.avgLength)));
        out.set(p.docs[j], s * boost);
      }
      return out;
    }

    function union(maps) {
      var out = new Map();
      maps.forEach(function (m) { m.forEach(function (s, d) { out.set(d, (out.get(d) || 0) + s); }); });
      return out;
    }

    function intersect(maps) {
      if (!maps.length) return new Map();
      var out = new Map();
      maps[0].forEach(function (s, d) {
        var total = s;
        for (var k = 1; k < maps.length; k++) {
          if (!maps[k].has(d)) return;
          total += maps[k].get(d);
        }
        out.set(d, total);
      });
      return out;
    }

    function fieldsOf(node) { return node.fields || Object.keys(meta.fields); }
    function boostOf(node, field) { return node.fields ? 1 : meta.fields[field].boost; }

    function phraseIn(field, terms, boost) {
      var lists = terms.map(function (t) { return postings(field, t); });
      if (lists.some(function (p) { return !p; })) return new Map();
      var scored = intersect(terms.map(function (t) { return termScores(field, t, boost); }));
      var poses = lists.map(function (p, k) { return positionsOf(field, terms[k], p); });
      var out = new Map();
      scored.forEach(function (s, d) {
        var sets = lists.map(function (p, k) { return poses[k][indexOfDoc(p.docs, d)] || []; });
        var found = sets[0].some(function (start) {
          for (var k = 1; k < sets.length; k++) if (sets[k].indexOf(start + k) < 0) return false;
          return true;
        });
        if (found) out.set(d, s);
      });
      return out;
    }

    /* The terms a prefix node looks for (see BroadsheetAnalysis.prefixTerms), as Whoosh
     * finds them: those beginning with one of its beginnings, and its whole terms. */
    function prefixTerms(field, node) {
      var found = {};
      function termsOf(t) { return (store.terms[shardOf(t)] || {})[field] || {}; }
      node.beginnings.forEach(function (b) {
        Object.keys(termsOf(b)).forEach(function (t) { if (t.indexOf(b) === 0) found[t] = true; });
      });
      node.whole.forEach(function (t) { if (termsOf(t)[t] !== undefined) found[t] = true; });
      return Object.keys(found).sort();
    }

    function prefixIn(field, node) {
      return union(prefixTerms(field, node).map(function (t) { return termScores(field, t, 1); }));
    }

    /* Map docnum -> score for a query tree (positive part; NOT handled by `and`). */
    function evaluate(node) {
      switch (node.op) {
        case "term":
          return union(fieldsOf(node).map(function (f) { return termScores(f, node.term, boostOf(node, f)); }));
        case "multi":
          return union(fieldsOf(node).map(function (f) {
            return intersect(node.terms.map(function (t) { return termScores(f, t, boostOf(node, f)); }));
          }));
        case "phrase":
          return union(fieldsOf(node).map(function (f) { return phraseIn(f, node.terms, boostOf(node, f)); }));
        case "prefix":
          return union(fieldsOf(node).map(function (f) { return prefixIn(f, node); }));
        case "or":
          return union(node.children.map(evaluate));
        case "not":
          return new Map();
        case "and":
          var positive = node.children.filter(function (c) { return c.op !== "not"; });
          var negative = node.children.filter(function (c) { return c.op === "not"; });
          var out = intersect(positive.map(evaluate));
          negative.forEach(function (n) { evaluate(n.child).forEach(function (_, d) { out.delete(d); }); });
          return out;
      }
      return new Map();
    }

    function yearOf(doc) {
      var runs = meta.yearRuns, lo = 0, hi = runs.length - 1;
      while (lo < hi) { var mid = (lo + hi + 1) >> 1; if (runs[mid][0] <= doc) lo = mid; else hi = mid - 1; }
      return runs.length ? runs[lo][1] : null;
    }

    /* Run a query: {hits: [{doc, score, year}], years: {year: count}} ranked like Whoosh
     * (score descending, then document number). Rejects with QueryError for bad syntax. */
    function search(text) {
      return ready().then(function () {
        var tree = A.parseQuery(text);
        if (!tree) return { tree: null, hits: [], years: {} };
        return loadAll(bucketsFor(tree, {})).then(function () {
          return loadAll(listsFor(tree, {}));
        }).then(function () {
          var scores = tree.op === "not" ? new Map() : evaluate(tree), hits = [], years = {};
          scores.forEach(function (s, d) {
            var y = yearOf(d);
            hits.push({ doc: d, score: s, year: y });
            years[y] = (years[y] || 0) + 1;
          });
          hits.sort(function (a, b) { return b.score - a.score || a.doc - b.doc; });
          return { tree: tree, hits: hits, years: years };
        });
      });
    }

    /* Stored records [title, url, date, excerpt] of the given documents. */
    function documents(docs) {
      var ids = {};
      docs.forEach(function (d) { ids[Math.floor(d / meta.docsPerShard)] = true; });
      return Promise.all(Object.keys(ids).map(function (id) { return load("docs", +id); }))
        .then(function () {
          return docs.map(function (d) {
            var rec = store.docs[Math.floor(d / meta.docsPerShard)][d % meta.docsPerShard];
            return rec ? { doc: d, title: rec[0], url: rec[1], date: rec[2], year: +rec[2].slice(0, 4), excerpt: rec[3] } : null;
          });
        });
    }

    /* The page's filters: {facet: {value: number of documents}} (outlet, labels), empty without. */
    function facets() {
      return ready().then(function () {
        var out = {};
        Object.keys(meta.facets || {}).forEach(function (name) {
          out[name] = {};
          Object.keys(meta.facets[name]).forEach(function (value) { out[name][value] = meta.facets[name][value][0]; });
        });
        return out;
      });
    }

    /* The documents of one facet value, as a Set (loaded when a reader picks the value). */
    var facetSets = {};
    function facetDocuments(name, value) {
      return ready().then(function () {
        var k = meta.facets[name][value][1];
        if (facetSets[k]) return facetSets[k];
        return load("facet", k).then(function (text) {
          var docs = new Set(), d = 0;
          decodeNumbers(text).forEach(function (delta) { d += delta; docs.add(d); });
          facetSets[k] = docs;
          return docs;
        });
      });
    }

    return {
      ready: ready, search: search, documents: documents, facets: facets, facetDocuments: facetDocuments,
      loaded: function () { return loaded.slice(); }
    };
  }

  function QueryError(message) { this.message = message; this.name = "QueryError"; }
  QueryError.prototype = Object.create(Error.prototype);

  /* A snippet of `text` around the words matching `tree`: [{text, hit}] segments. */
  function snippet(text, tree, maxChars) {
    maxChars = maxChars || 240;
    var wanted = A.positiveTerms(tree), segs = A.markText(text, wanted), offset = 0, hits = [];
    segs.forEach(function (s) { if (s.hit) hits.push(offset); offset += s.text.length; });
    var start = 0;
    if (hits.length) {
      var best = 0, bestCount = 0;
      hits.forEach(function (h, i) {
        var count = 0;
        for (var k = i; k < hits.length && hits[k] < h + maxChars - 60; k++) count++;
        if (count > bestCount) { bestCount = count; best = h; }
      });
      start = Math.max(0, best - 60);
      var space = text.lastIndexOf(" ", start);
      start = start === 0 ? 0 : (space > best - 100 ? space + 1 : start);
    }
    var end = Math.min(text.length, start + maxChars);
    if (end < text.length) { var cut = text.lastIndexOf(" ", end); if (cut > start + maxChars / 2) end = cut; }
    var out = A.markText(text.slice(start, end), wanted);
    if (start > 0) out.unshift({ text: "\u2026", hit: false });
    if (end < text.length) out.push({ text: "\u2026", hit: false });
    return out;
  }

  root.BroadsheetSearch = {
    register: register, createEngine: createEngine, snippet: snippet, fnv1a: fnv1a,
    QueryError: QueryError
  };
})(typeof window !== "undefined" ? window : globalThis);
