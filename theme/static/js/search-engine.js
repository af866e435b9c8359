/* Broadsheet search: the browser index and BM25F ranking, as Whoosh ranks.
 *
 * Shards are plain scripts (written by plugins/search_index/export.py) that call
 * BroadsheetSearch.register(kind, id, data). They are added as <script> tags on demand,
 * which works over HTTP and from file:// alike (no fetch, no XHR, no modules, no wasm).
 * A query loads meta.js once, the term buckets its words hash to, then the chunks of the
 * long posting lists of its words, best first, and the pieces (postings by document number)
 * of the documents that may be among the best, until the best are certain (`bestOf`; a
 * phrase, OR, NOT or prefix loads every chunk, and a "phrase" the positions of its words),
 * and the document shards of the results on screen. Needs
 * search-analysis.js. Also runs under Node (tests), where `loadScript` is supplied by the caller.
 */
(function (root) {
  "use strict";
  var A = root.BroadsheetAnalysis;
  /* What the shards registered, by index name ("" for the site's index, "versions" for the
   * articles' earlier versions), then by kind and id. */
  var stores = {};
  /* Where each kind of file lies (export.py: shard_path). */
  var FOLDERS = { terms: "t", positions: "p", chunk: "l", piece: "r", positionList: "q", docs: "d", facet: "f" };
  /* Results a query ranks for certain before it loads every posting of its words. */
  var FIRST_PAGE = 10;
  /* Pieces (r/<n>) a round of `bestOf` loads at most to learn the scores of its best candidates. */
  var PIECES_PER_ROUND = 8;
  /* Pieces a round loads at once when they settle every document that may still be among the best. */
  var PIECES_AT_ONCE = 48;

  function storeOf(name) {
    return stores[name] || (stores[name] = { meta: {}, terms: {}, positions: {}, chunk: {}, piece: {}, positionList: {}, docs: {}, facet: {} });
  }

  function register(kind, id, data, name) { storeOf(name || "")[kind][id] = data; }

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
    var store = storeOf(options.name || "");
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
        if (!m || m.format !== 4) throw new Error("meta.js is of an unknown format");
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

    /* Chunks of long lists needed by a query tree, once its buckets are loaded ("chunk:12"...):
     * all those of its words in the fields it searches. */
    function listsFor(node, acc) {
      if (!node) return acc;
      function need(fields, t, phrase) {
        fields.forEach(function (f) {
          var e = entry("terms", f, t);
          if (Array.isArray(e)) for (var c = 0; c < e[2]; c++) acc["chunk:" + (e[1] + c)] = true;
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
      var e = entry("terms", field, term);
      if (!e) return null;
      var p;
      if (Array.isArray(e)) {  // a long list: its chunks merged in document order
        var all = [];
        for (var c = 0; c < e[2]; c++) Array.prototype.push.apply(all, chunkPostings(field, e[1] + c));
        all.sort(function (a, b) { return a.doc - b.doc; });
        p = { df: e[3], docs: [], weights: [], lengths: [], positions: null };
        all.forEach(function (q) { p.docs.push(q.doc); p.weights.push(q.tf); p.lengths.push(q.length); });
      } else {
        var flat = decodeNumbers(e);
        p = readPostings(field, flat);
        p.df = flat[0];
      }
      decoded[cacheKey] = p;
      return p;
    }

    /* Postings from `flat` (a count first, then documents and values) as {docs, weights, lengths};
     * the first document is counted from `start` (0 but in a piece). */
    function readPostings(field, flat, start) {
      var lengths = meta.lengths, minCode = meta.fields[field].minCode;
      var p = { docs: [], weights: [], lengths: [], positions: null }, i = 1, doc = start || 0;
      while (i < flat.length) {
        doc += flat[i];
        var v = flat[i + 1];
        p.docs.push(doc);
        p.lengths.push(lengths[(v >> 1) + minCode]);
        if (v & 1) { p.weights.push(flat[i + 2] + 2); i += 3; }
        else { p.weights.push(1); i += 2; }
      }
      return p;
    }

    /* The postings of one chunk as [{doc, tf, length}]. */
    function chunkPostings(field, c) {
      var p = readPostings(field, decodeNumbers(store.chunk[c][0]));
      return p.docs.map(function (d, j) { return { doc: d, tf: p.weights[j], length: p.lengths[j] }; });
    }

    /* The postings of piece `j` of a long list (its entry `e`), which holds documents
     * (j - e[4]) * e[5] to the next piece's first. */
    function piecePostings(field, e, j) {
      var p = readPostings(field, decodeNumbers(store.piece[j]), (j - e[4]) * e[5]);
      return p.docs.map(function (d, k) { return { doc: d, tf: p.weights[k], length: p.lengths[k] }; });
    }

    /* The score of a posting (what termScores gives it), and of the best posting after a chunk. */
    function postingScore(field, df, tf, length, boost) {
      var f = meta.fields[field], idf = Math.log(meta.docCountAll / (df + 1)) + 1;
      var s = idf * ((tf * (meta.K1 + 1)) / (tf + meta.K1 * ((1 - meta.B) + meta.B * length / f.avgLength)));
      return s * boost;
    }

    function boundAfter(field, e, c, boost) {
      var text = store.chunk[c][1];
      if (!text) return 0;
      var v = decodeNumbers(text), tf = v[0] & 1 ? v[1] + 2 : 1;
      return postingScore(field, e[3], tf, meta.lengths[(v[0] >> 1) + meta.fields[field].minCode], boost);
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
      for (var j = 0; j < p.docs.length; j++) out.set(p.docs[j], postingScore(field, p.df, p.weights[j], p.lengths[j], boost));
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

    /* Run a query: {hits: [{doc, score, year}], years: {year: count}, complete: true} ranked
     * like Whoosh (score descending, then document number). A word, or words ANDed, whose
     * postings are long gives instead the `options.best` (FIRST_PAGE) best hits only that
     * `options.accept(doc, year)` accepts (all without it), as soon as they are certain
     * ({hits, complete: false, atMost: an upper bound of the matches}); with `options.all`
     * every hit. A complete result holds every match, accepted or not. Rejects with
     * QueryError for bad syntax. */
    function search(text, options) {
      options = options || {};
      return ready().then(function () {
        var tree = A.parseQuery(text);
        if (!tree) return { tree: null, hits: [], years: {}, complete: true };
        return loadAll(bucketsFor(tree, {})).then(function () {
          var words = rankedWords(tree);
          return words && !options.all ? bestOf(tree, words, options.best || FIRST_PAGE, options.accept || null)
            : everything(tree);
        });
      });
    }

    function everything(tree) {
      return loadAll(listsFor(tree, {})).then(function () {
        var scores = tree.op === "not" ? new Map() : evaluate(tree), hits = [], years = {};
        scores.forEach(function (s, d) {
          var y = yearOf(d);
          hits.push({ doc: d, score: s, year: y });
          years[y] = (years[y] || 0) + 1;
        });
        hits.sort(byRank);
        return { tree: tree, hits: hits, years: years, complete: true };
      });
    }

    function byRank(a, b) { return b.score - a.score || a.doc - b.doc; }

    /* The term nodes of a query that `bestOf` can rank: a word, or words ANDed. */
    function rankedWords(tree) {
      if (tree.op === "term") return [tree];
      if (tree.op === "and" && tree.children.every(function (c) { return c.op === "term"; })) return tree.children;
      return null;
    }

    /* The `best` best hits of `words` ANDed that `accept` accepts, by the threshold algorithm
     * of Fagin, Lotem and Naor: each word in each field it searches is a list; a round reads
     * the next chunk of every list (best postings first) while a document not seen yet could
     * still be among the best, and the pieces (postings by document number) that give the
     * missing scores of the candidates that could be, the most promising first, until no
     * document outside the best can overtake them. Scores are added in `evaluate`'s order,
     * so that they are its scores. */
    function bestOf(tree, words, best, accept) {
      var lists = words.map(function (node) {
        return fieldsOf(node).map(function (f) {
          var e = entry("terms", f, node.term), l = { field: f, entry: e, boost: boostOf(node, f), next: 0,
                                                       scores: new Map(), complete: true, bound: 0, df: 0, pieces: {} };
          if (Array.isArray(e)) { l.complete = false; l.df = e[3]; l.bound = Infinity; }
          else if (e) { l.scores = termScores(f, node.term, l.boost); l.df = postings(f, node.term).df; }
          return l;
        });
      });
      function round() {
        var state = settled(lists, tree, best, accept);
        if (state.done) return state.done;
        var wanted = {}, sorted = [], random = [];
        lists.forEach(function (ls) {
          ls.forEach(function (l) {
            if (!l.complete && (state.sorted || state.lowering.has(l))) { wanted["chunk:" + (l.entry[1] + l.next)] = true; sorted.push(l); }
          });
        });
        state.pieces.forEach(function (p) { wanted["piece:" + p.piece] = true; random.push(p); });
        if (!Object.keys(wanted).length) return everything(tree);
        return loadAll(wanted).then(function () {
          sorted.forEach(readChunk);
          random.forEach(function (p) { readPiece(p.list, p.piece); });
          return round();
        });
      }
      return round();
    }

    function readChunk(l) {
      var c = l.entry[1] + l.next;
      chunkPostings(l.field, c).forEach(function (q) { l.scores.set(q.doc, postingScore(l.field, l.df, q.tf, q.length, l.boost)); });
      l.next++;
      l.complete = l.next === l.entry[2];
      l.bound = boundAfter(l.field, l.entry, c, l.boost);
    }

    function readPiece(l, j) {
      if (l.pieces[j]) return;
      piecePostings(l.field, l.entry, j).forEach(function (q) {
        l.scores.set(q.doc, postingScore(l.field, l.df, q.tf, q.length, l.boost));
      });
      l.pieces[j] = true;
    }

    /* The piece of a long list that holds document `d`'s posting, if it has one. */
    function pieceOf(l, d) { return l.entry[4] + Math.floor(d / l.entry[5]); }

    /* What `bestOf` does next with the lists as read so far: {done: its result} when the best
     * hits are certain, else whether to read every list's next chunk (`sorted`: a document not
     * seen yet may be among the best), the lists whose next chunk lowers the ceiling of
     * documents that may be (`lowering`: many such documents are cheaper to rule out by the
     * lists' bound than one by one) and which `pieces` ([{list, piece}]) to load. */
    function settled(lists, tree, best, accept) {
      var seen = new Set(), everyMatch = [], exact = [], open = [], unknown = 0;
      if (lists.every(function (ls) { return ls.every(function (l) { return l.complete; }); })) {
        return { sorted: false, lowering: new Set(), pieces: [] };  // every posting read: rank every match
      }
      lists.forEach(function (ls) { ls.forEach(function (l) { l.scores.forEach(function (_, d) { seen.add(d); }); }); });
      seen.forEach(function (d) {
        var total = 0, ceiling = 0, known = true, missing = [];
        for (var i = 0; i < lists.length; i++) {
          var word = null, wordCeiling = 0, maybe = false;
          lists[i].forEach(function (l) {
            var s = l.scores.get(d);
            if (s !== undefined) { word = (word === null ? 0 : word) + s; wordCeiling += s; }
            else if (!l.complete && !l.pieces[pieceOf(l, d)]) { wordCeiling += l.bound; maybe = true; missing.push(l); }
          });
          if (word === null && !maybe) return;  // lacks a word: no match
          if (word === null || maybe) known = false;
          total = i === 0 ? word : total + word;
          ceiling += wordCeiling;
        }
        var year = yearOf(d);
        if (known) everyMatch.push({ doc: d, score: total, year: year });
        else unknown++;
        if (accept && !accept(d, year)) return;
        if (known) exact.push({ doc: d, score: total, year: year });
        else open.push({ doc: d, ceiling: ceiling, missing: missing });
      });
      // A document in no chunk read yet: at most the bound of every list still open.
      var unseen = 0;
      for (var i = 0; i < lists.length; i++) {
        var open_i = lists[i].filter(function (l) { return !l.complete; });
        if (!open_i.length) { unseen = -Infinity; break; }
        open_i.forEach(function (l) { unseen += l.bound; });
      }
      if (!unknown && unseen === -Infinity) {  // every match is known (a word in short lists only)
        var years = {};
        everyMatch.sort(byRank);
        everyMatch.forEach(function (h) { years[h.year] = (years[h.year] || 0) + 1; });
        return { done: { tree: tree, hits: everyMatch, years: years, complete: true } };
      }
      exact.sort(byRank);
      var last = exact.length >= best ? exact[best - 1].score : -Infinity;
      var lastDoc = exact.length >= best ? exact[best - 1].doc : Infinity;
      // A document that can at most tie with the last of the best ranks after it if its number is higher.
      var contenders = open.filter(function (o) { return o.ceiling > last || (o.ceiling === last && o.doc < lastDoc); });
      if (exact.length >= best && unseen < last && !contenders.length) {
        var atMost = Math.min.apply(null, lists.map(function (ls) {
          return ls.reduce(function (n, l) { return n + l.df; }, 0);
        }));
        return { done: { tree: tree, hits: exact.slice(0, best), years: null, complete: false, atMost: atMost } };
      }
      // The pieces that settle the contenders most likely to be among the best.
      contenders.sort(function (a, b) { return b.ceiling - a.ceiling || a.doc - b.doc; });
      var pieces = [], chosen = {};
      for (var c = 0; c < contenders.length; c++) {
        contenders[c].missing.forEach(function (l) {
          var j = pieceOf(l, contenders[c].doc);
          if (!chosen[j]) { chosen[j] = true; pieces.push({ list: l, piece: j }); }
        });
      }
      // Few pieces settle every contender: load them. Else the most promising contenders'
      // pieces, and the next chunk of each list they miss.
      var lowering = new Set();
      if (pieces.length > PIECES_AT_ONCE) {
        pieces = [];
        chosen = {};
        for (c = 0; c < contenders.length && pieces.length < PIECES_PER_ROUND; c++) {
          contenders[c].missing.forEach(function (l) {
            var j = pieceOf(l, contenders[c].doc);
            if (!chosen[j]) { chosen[j] = true; pieces.push({ list: l, piece: j }); }
          });
        }
        contenders.forEach(function (o) { o.missing.forEach(function (l) { lowering.add(l); }); });
      }
      return { sorted: unseen >= last, lowering: lowering, pieces: pieces };
    }

    /* Documents per year in the whole archive. */
    function corpusYears() { return ready().then(function () { return meta.years; }); }

    /* Stored records [title, url, date, excerpt] of the given documents. */
    function documents(docs) {
      var ids = {};
      docs.forEach(function (d) { ids[Math.floor(d / meta.docsPerShard)] = true; });
      return Promise.all(Object.keys(ids).map(function (id) { return load("docs", +id); }))
        .then(function () {
          return docs.map(function (d) {
            var rec = store.docs[Math.floor(d / meta.docsPerShard)][d % meta.docsPerShard];
            return rec ? { doc: d, title: rec[0], url: rec[1], date: rec[2], year: +rec[2].slice(0, 4), excerpt: rec[3],
                           note: rec[4] || null } : null;
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
        if (!(meta.facets[name] || {})[value]) return new Set();  // none of this index's documents has it
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
      corpusYears: corpusYears,
      loaded: function () { return loaded.slice(); }
    };
  }

  /* Scores as the CLI compares them when it merges two indexes (query.search: rounded to 4 places). */
  function rounded(score) { return Math.round(score * 1e4) / 1e4; }

  /* The results of one query in several indexes (`results[i]` from `engines[i]`) as one,
   * each hit tagged with its index (`part`): ranked by rounded score, and (`settleTies`)
   * ties by date, then URL, as the CLI ranks `version:all`. */
  function mergeResults(results) {
    var hits = [], years = {}, complete = results.every(function (r) { return r.complete; });
    results.forEach(function (r, part) {
      r.hits.forEach(function (h) { hits.push({ doc: h.doc, score: h.score, year: h.year, part: part, rank: rounded(h.score) }); });
      Object.keys(r.years || {}).forEach(function (y) { years[y] = (years[y] || 0) + r.years[y]; });
    });
    hits.sort(function (a, b) { return b.rank - a.rank || a.part - b.part || a.doc - b.doc; });
    return {
      tree: results[0].tree, hits: hits, years: complete ? years : null, complete: complete,
      atMost: results.reduce(function (n, r) { return n + (r.complete ? r.hits.length : r.atMost); }, 0)
    };
  }

  /* Put in final order the hits of `hits` (merged, in place) that tie in score with those in
   * positions `from` to `to` of `shown` (the same hits, filtered): ordered by date, then URL,
   * from their records (only ties need them). Resolves to `hits`. */
  function settleTies(hits, shown, from, to, engines) {
    var ranks = {};
    shown.slice(from, to).forEach(function (h) { ranks[h.rank] = true; });
    var groups = [], i = 0;
    while (i < hits.length) {
      var j = i;
      while (j < hits.length && hits[j].rank === hits[i].rank) j++;
      if (j - i > 1 && ranks[hits[i].rank] && !hits[i].settled) groups.push([i, j]);
      i = j;
    }
    var members = [];
    groups.forEach(function (g) { members = members.concat(hits.slice(g[0], g[1])); });
    return Promise.all(engines.map(function (engine, part) {
      var mine = members.filter(function (h) { return h.part === part; });
      return engine.documents(mine.map(function (h) { return h.doc; })).then(function (docs) {
        docs.forEach(function (d, k) { mine[k].date = d ? d.date : ""; mine[k].url = d ? d.url : ""; });
      });
    })).then(function () {
      function cmp(a, b) { return a < b ? -1 : a > b ? 1 : 0; }
      groups.forEach(function (g) {
        var group = hits.slice(g[0], g[1]).sort(function (a, b) { return cmp(a.date, b.date) || cmp(a.url, b.url); });
        group.forEach(function (h, k) { h.settled = true; hits[g[0] + k] = h; });
      });
      return hits;
    });
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
    mergeResults: mergeResults, settleTies: settleTies,
    QueryError: QueryError
  };
})(typeof window !== "undefined" ? window : globalThis);
