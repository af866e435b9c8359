/* Broadsheet search: text -> index terms, and query text -> query tree.
 *
 * A line-by-line mirror of plugins/search_index/analysis.py (Whoosh's StemmingAnalyzer with
 * Arabic normalisation) and of the subset of Whoosh's query syntax the browser supports.
 * tests/test_search.py runs both on the same text and requires identical terms.
 * Plain script (no modules): defines window.BroadsheetAnalysis; also loads under Node.
 */
(function (root) {
  "use strict";

  var MARKS = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed";
  var WORD = "(?:[\\p{L}\\p{N}_]|[" + MARKS + "])+";
  var TOKEN_SOURCE = WORD + "(?:\\." + WORD + ")*";
  var STRIP = new RegExp("[" + MARKS + "\u0640]", "g");
  var FOLDS = {
    "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627",
    "\u0649": "\u064a", "\u06cc": "\u064a", "\u06a9": "\u0643"
  };
  var FOLD = new RegExp("[" + Object.keys(FOLDS).join("") + "]", "g");
  var NON_ASCII = /[^\x00-\x7f]/;
  var MIN_TOKEN_LENGTH = 2;
  // Whoosh's whoosh.analysis.filters.STOP_WORDS (a test checks they are the same).
  var STOP_WORDS = {};
  ["a", "an", "and", "are", "as", "at", "be", "by", "can", "for", "from", "have", "if", "in",
   "is", "it", "may", "not", "of", "on", "or", "tbd", "that", "the", "this", "to", "us", "we",
   "when", "will", "with", "yet", "you", "your"].forEach(function (w) { STOP_WORDS[w] = true; });

  function normaliseArabic(text) {
    return text.replace(STRIP, "").replace(FOLD, function (c) { return FOLDS[c]; });
  }

  // ---- Porter stemmer: a faithful port of whoosh/lang/porter.py, quirks included
  // (Whoosh anchors `_step1b` and `_at_bl_iz` at the start of the word, so the usual
  // double-consonant and at/bl/iz rules only fire on two-letter remainders).
  var step2list = {
    ational: "ate", tional: "tion", enci: "ence", anci: "ance", izer: "ize", bli: "ble",
    alli: "al", entli: "ent", eli: "e", ousli: "ous", ization: "ize", ation: "ate",
    ator: "ate", alism: "al", iveness: "ive", fulness: "ful", ousness: "ous", aliti: "al",
    iviti: "ive", biliti: "ble", logi: "log"
  };
  var step3list = { icate: "ic", ative: "", alize: "al", iciti: "ic", ical: "ic", ful: "", ness: "" };
  var cons_seq = "[^aeiouy]+", vowel_seq = "[aeiou]+", vowel = "[aeiouy]";
  var mgr0 = new RegExp("^(" + cons_seq + ")?" + vowel_seq + cons_seq);
  var meq1 = new RegExp("^(" + cons_seq + ")?" + vowel_seq + cons_seq + "(" + vowel_seq + ")?$");
  var mgr1 = new RegExp("^(" + cons_seq + ")?" + vowel_seq + cons_seq + vowel_seq + cons_seq);
  var s_v = new RegExp("^(" + cons_seq + ")?" + vowel);
  var c_v = new RegExp("^" + cons_seq + vowel + "[^aeiouwxy]$");
  var ed_ing = /^(.*)(ed|ing)$/;
  var at_bl_iz = /^(at|bl|iz)$/;
  var step1b = /^([^aeiouylsz])\1$/;
  var step2 = /^(.+?)(ational|tional|enci|anci|izer|bli|alli|entli|eli|ousli|ization|ation|ator|alism|iveness|fulness|ousness|aliti|iviti|biliti|logi)$/;
  var step3 = /^(.+?)(icate|ative|alize|iciti|ical|ful|ness)$/;
  var step4_1 = /^(.+?)(al|ance|ence|er|ic|able|ible|ant|ement|ment|ent|ou|ism|ate|iti|ous|ive|ize)$/;
  var step4_2 = /^(.+?)(s|t)(ion)$/;
  var step5 = /^(.+?)e$/;

  function endsWith(w, s) { return w.length >= s.length && w.slice(w.length - s.length) === s; }

  function porterStem(w) {
    if (w.length < 3) return w;
    var m, stem, firstIsY = w.charAt(0) === "y";
    if (firstIsY) w = "Y" + w.slice(1);
    // Step 1a
    if (endsWith(w, "s")) {
      if (endsWith(w, "sses")) w = w.slice(0, -2);
      else if (endsWith(w, "ies")) w = w.slice(0, -2);
      else if (w.charAt(w.length - 2) !== "s") w = w.slice(0, -1);
    }
    // Step 1b
    if (endsWith(w, "eed")) {
      if (mgr0.test(w.slice(0, -3))) w = w.slice(0, -1);
    } else {
      m = ed_ing.exec(w);
      if (m) {
        stem = m[1];
        if (s_v.test(stem)) {
          w = stem;
          if (at_bl_iz.test(w)) w += "e";
          else if (step1b.test(w)) w = w.slice(0, -1);
          else if (c_v.test(w)) w += "e";
        }
      }
    }
    // Step 1c
    if (endsWith(w, "y")) {
      stem = w.slice(0, -1);
      if (s_v.test(stem)) w = stem + "i";
    }
    // Step 2
    m = step2.exec(w);
    if (m && mgr0.test(m[1])) w = m[1] + step2list[m[2]];
    // Step 3
    m = step3.exec(w);
    if (m && mgr0.test(m[1])) w = m[1] + step3list[m[2]];
    // Step 4
    m = step4_1.exec(w);
    if (m) {
      if (mgr1.test(m[1])) w = m[1];
    } else {
      m = step4_2.exec(w);
      if (m) {
        stem = m[1] + m[2];
        if (mgr1.test(stem)) w = stem;
      }
    }
    // Step 5
    m = step5.exec(w);
    if (m) {
      stem = m[1];
      if (mgr1.test(stem) || (meq1.test(stem) && !c_v.test(stem))) w = stem;
    }
    if (endsWith(w, "ll") && mgr1.test(w)) w = w.slice(0, -1);
    if (firstIsY) w = "y" + w.slice(1);
    return w;
  }

  function stemEnglish(word) { return NON_ASCII.test(word) ? word : porterStem(word); }

  /* The index term of one token, or null when Whoosh would drop it (stop word, too short). */
  function term(token) {
    var t = normaliseArabic(token.toLowerCase());
    if (t.length < MIN_TOKEN_LENGTH || STOP_WORDS[t]) return null;
    return stemEnglish(t);
  }

  /* Tokens of `text` with their offsets: [{text, start, end}]. */
  function tokens(text) {
    var re = new RegExp(TOKEN_SOURCE, "gu"), out = [], m;
    while ((m = re.exec(text)) !== null) out.push({ text: m[0], start: m.index, end: m.index + m[0].length });
    return out;
  }

  /* The index terms of `text`, in order (what Whoosh's analyser yields). */
  function analyse(text) {
    var out = [];
    tokens(text).forEach(function (tok) { var t = term(tok.text); if (t !== null) out.push(t); });
    return out;
  }

  /* A prefix* query's text: analysed as one token, like Whoosh (no stemming of stop words
   * or one-letter prefixes). */
  function prefixTerm(text) {
    var t = normaliseArabic(text.toLowerCase());
    if (t.length < MIN_TOKEN_LENGTH || STOP_WORDS[t]) return t;
    return stemEnglish(t);
  }

  /* Endings put after a prefix to find the stems of the longer words it begins: the list
   * of analysis.PREFIX_ENDINGS (a test compares them). */
  var PREFIX_ENDINGS = ["e", "s", "es", "ed", "ing", "ion", "ions", "or", "ors", "er", "ers", "y", "ies",
    "ied", "al", "ly", "ment", "ness", "ity", "ive", "ize", "ate", "ation", "ance",
    "ence", "able", "ible", "ous", "ism", "ist", "ful"];

  /* What a prefix* query looks for, as analysis.prefix_terms: {beginnings, whole}. Terms
   * that begin with the prefix as typed or with its stem, and the stems of the longer words
   * it begins ("negotiat" + "ion" -> "negoti"), since the index holds stems. */
  function prefixTerms(text) {
    var word = normaliseArabic(text.toLowerCase());
    if (word.length < MIN_TOKEN_LENGTH || STOP_WORDS[word]) return { beginnings: [word], whole: [] };
    var stem = stemEnglish(word), beginnings = stem === word ? [word] : [stem, word].sort(), whole = {};
    PREFIX_ENDINGS.forEach(function (ending) {
      var t = stemEnglish(word + ending);
      if (!beginnings.some(function (b) { return t.indexOf(b) === 0; })) whole[t] = true;
    });
    return { beginnings: beginnings, whole: Object.keys(whole).sort() };
  }

  // ---- Query syntax (the part of Whoosh's default syntax the browser understands):
  // words are ANDed; OR binds tighter than AND; NOT negates the next item; "quoted phrase";
  // word* for a prefix; title:word or body:word for one field; parentheses group.
  var FIELDS = { title: true, body: true };

  function lex(q) {
    var re = /\s*(?:(\()|(\))|"([^"]*)"?|((?:title|body):)?("[^"]*"?|[^\s()"]+))/g, out = [], m;
    while ((m = re.exec(q)) !== null) {
      if (m[0] === "") { re.lastIndex++; continue; }
      if (m[1]) out.push({ type: "(" });
      else if (m[2]) out.push({ type: ")" });
      else if (m[3] !== undefined) out.push({ type: "phrase", text: m[3] });
      else {
        var field = m[4] ? m[4].slice(0, -1) : null, text = m[5];
        if (text.charAt(0) === '"') out.push({ type: "phrase", text: text.replace(/"/g, ""), field: field });
        else if (!field && (text === "AND" || text === "OR" || text === "NOT")) out.push({ type: text });
        else out.push({ type: "word", text: text, field: field });
      }
    }
    return out;
  }

  /* Query text -> tree of {op: "and"|"or"|"not"|"term"|"phrase"|"prefix", ...} or null. */
  function parseQuery(q) {
    var toks = lex(q || ""), i = 0;
    function peek() { return toks[i]; }
    function parseAnd(closing) {
      var items = [];
      while (i < toks.length) {
        var t = peek();
        if (t.type === ")") { if (closing) { i++; break; } i++; continue; }
        if (t.type === "AND") { i++; continue; }
        var node = parseOr();
        if (node) items.push(node);
      }
      return group("and", items);
    }
    function parseOr() {
      var items = [parseNot()];
      while (i < toks.length && peek().type === "OR") { i++; if (i < toks.length) items.push(parseNot()); }
      return group("or", items.filter(Boolean));
    }
    function parseNot() {
      var t = toks[i++];
      if (!t) return null;
      if (t.type === "NOT") { var inner = i < toks.length ? parseNot() : null; return inner ? { op: "not", child: inner } : null; }
      if (t.type === "(") return parseAnd(true);
      if (t.type === "phrase") return leaf("phrase", t);
      if (t.type === "word") return leaf(/\*$/.test(t.text) && t.text.length > 1 ? "prefix" : "term", t);
      return null;
    }
    function leaf(kind, t) {
      var fields = t.field && FIELDS[t.field] ? [t.field] : null;
      if (kind === "prefix") {
        var text = t.text.replace(/\*+$/, ""), p = prefixTerm(text), looked = prefixTerms(text);
        return p ? { op: "prefix", prefix: p, beginnings: looked.beginnings, whole: looked.whole,
                     fields: fields, raw: t.text } : null;
      }
      var terms = analyse(t.text);
      if (!terms.length) return null;
      if (kind === "term" && terms.length === 1) return { op: "term", term: terms[0], fields: fields, raw: t.text };
      // A quoted phrase, or a word the analyser splits ("al-Sawda"): Whoosh makes a
      // phrase of the former and an AND, inside each field, of the latter.
      return { op: kind === "phrase" ? "phrase" : "multi", terms: terms, fields: fields, raw: t.text };
    }
    function group(op, items) {
      items = items.filter(Boolean);
      if (!items.length) return null;
      return items.length === 1 ? items[0] : { op: op, children: items };
    }
    return parseAnd(false);
  }

  /* Positive terms and prefixes of a query tree (what result pages highlight). */
  function positiveTerms(node, out) {
    out = out || { terms: {}, prefixes: [] };
    if (!node) return out;
    if (node.op === "not") return out;
    if (node.op === "term") out.terms[node.term] = true;
    else if (node.op === "prefix") {
      Array.prototype.push.apply(out.prefixes, node.beginnings);
      node.whole.forEach(function (t) { out.terms[t] = true; });
    }
    else if (node.terms) node.terms.forEach(function (t) { out.terms[t] = true; });
    (node.children || []).forEach(function (c) { positiveTerms(c, out); });
    return out;
  }

  /* Split `text` into [{text, hit}] segments, marking tokens that match `wanted`. */
  function markText(text, wanted) {
    var out = [], last = 0;
    tokens(text).forEach(function (tok) {
      var t = term(tok.text);
      var hit = t !== null && (wanted.terms[t] || wanted.prefixes.some(function (p) { return t.indexOf(p) === 0; }));
      if (!hit) return;
      if (tok.start > last) out.push({ text: text.slice(last, tok.start), hit: false });
      out.push({ text: tok.text, hit: true });
      last = tok.end;
    });
    if (last < text.length) out.push({ text: text.slice(last), hit: false });
    return out;
  }

  root.BroadsheetAnalysis = {
    normaliseArabic: normaliseArabic,
    porterStem: porterStem,
    stemEnglish: stemEnglish,
    term: term,
    tokens: tokens,
    analyse: analyse,
    prefixTerm: prefixTerm,
    prefixTerms: prefixTerms,
    PREFIX_ENDINGS: PREFIX_ENDINGS.slice(),
    parseQuery: parseQuery,
    positiveTerms: positiveTerms,
    markText: markText,
    STOP_WORDS: Object.keys(STOP_WORDS)
  };
})(typeof window !== "undefined" ? window : globalThis);
