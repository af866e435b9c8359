/* Broadsheet search page: the form, the result list, the year, outlet and label filters, "more results",
 * and "Also search earlier versions" (a second index, of the articles' earlier versions, whose
 * hits are merged with the others as the CLI's `version:all` merges them).
 * Index text goes into the page through text nodes only, never as HTML.
 * Needs search-analysis.js and search-engine.js. */
(function () {
  "use strict";
  var PAGE = 10, DEBOUNCE_MS = 200;
  var section = document.getElementById("search");
  var form = document.getElementById("search-form");
  var input = document.getElementById("search-input");
  var yearSelect = document.getElementById("search-year");
  var facetSelects = Array.prototype.slice.call(document.querySelectorAll("select[data-facet]"));
  var versionsBox = document.getElementById("search-versions");
  var facetSets = [{}, {}];  // per index: {facet: {value: Set of documents}}, each loaded when first picked
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  var more = document.getElementById("search-more");
  var siteurl = section.getAttribute("data-siteurl") || ".";
  var engine = BroadsheetSearch.createEngine({ base: section.getAttribute("data-index") });
  var earlier = BroadsheetSearch.createEngine({ base: section.getAttribute("data-versions-index"), name: "versions" });
  var hasEarlier = false;  // set once the versions index is known to hold documents
  var current = null, shown = 0, generation = 0, timer = null;

  function say(text) { status.textContent = text; }

  function indexProblem(err) {
    say("Search is unavailable: the search index could not be loaded (" + (err && err.message || err) +
        "). Rebuild the site (invoke build) so that the folder search/ sits beside search.html.");
    status.className = "search-error";
  }

  function linkFor(url, query) {
    return (siteurl ? siteurl.replace(/\/$/, "") + "/" : "") + url + "?q=" + encodeURIComponent(query);
  }

  /* The indexes the query runs in: the latest texts, and the earlier versions when ticked. */
  function engines() { return hasEarlier && versionsBox.checked ? [engine, earlier] : [engine]; }

  /* The query in every index: the `best` best hits that pass the filters chosen (or every
   * match, when the index has them all at hand). */
  function searchAll(query, best) {
    var all = engines();
    var results = all.map(function (e, part) { return e.search(query, { best: best, accept: accepts(part) }); });
    if (all.length === 1) return results[0];
    return Promise.all(results).then(BroadsheetSearch.mergeResults);
  }

  /* Whether a document of index `part` passes the filters chosen: (doc, year) -> boolean; null without. */
  function accepts(part) {
    var y = yearSelect.value;
    var chosen = facetSelects.filter(function (s) { return s.value; });
    if (!y && !chosen.length) return null;
    return function (doc, year) {
      return (!y || String(year) === y) && chosen.every(function (s) {
        return facetSets[part][s.getAttribute("data-facet")][s.value].has(doc);
      });
    };
  }

  function corpusYears() {
    return Promise.all(engines().map(function (e) { return e.corpusYears(); })).then(function (all) {
      var years = {};
      all.forEach(function (ys) { Object.keys(ys).forEach(function (y) { years[y] = (years[y] || 0) + ys[y]; }); });
      return years;
    });
  }

  /* The records of `hits` (each from the index its `part` names), in their order. */
  function documentsOf(hits) {
    return Promise.all(engines().map(function (e, part) {
      return e.documents(hits.filter(function (h) { return (h.part || 0) === part; }).map(function (h) { return h.doc; }));
    })).then(function (byPart) {
      var next = byPart.map(function () { return 0; });
      return hits.map(function (h) { var part = h.part || 0; return byPart[part][next[part]++]; });
    });
  }

  function selectedHits() {
    var filters = engines().map(function (e, part) { return accepts(part); });
    return current.hits.filter(function (h) {
      var accept = filters[h.part || 0];
      return !accept || accept(h.doc, h.year);
    });
  }

  function fillFacets(counts) {
    facetSelects.forEach(function (select) {
      var values = counts[select.getAttribute("data-facet")];
      if (!values) return;
      facetSets.forEach(function (sets) { sets[select.getAttribute("data-facet")] = {}; });
      Object.keys(values).sort().forEach(function (v) {
        var opt = document.createElement("option");
        opt.value = v;
        opt.textContent = v + " (" + values[v] + ")";
        select.appendChild(opt);
      });
      select.parentNode.hidden = false;
    });
  }

  /* The year filter: this query's years and counts, or (`counted` false) every year of the
   * archive, before the query's matches are all known. */
  function fillYears(years, counted) {
    var keep = yearSelect.value;
    while (yearSelect.options.length > 1) yearSelect.remove(1);
    Object.keys(years).sort().forEach(function (y) {
      var opt = document.createElement("option");
      opt.value = y;
      opt.textContent = counted ? y + " (" + years[y] + ")" : y;
      yearSelect.appendChild(opt);
    });
    yearSelect.value = years[keep] ? keep : "";
  }

  function renderStatus() {
    var hits = selectedHits(), q = current.query, y = yearSelect.value;
    var n = hits.length, filters = facetSelects.filter(function (s) { return s.value; })
      .map(function (s) { return s.value; });
    if (!current.complete) {
      say("The " + n + " best of up to " + current.atMost.toLocaleString("en") + " results for \u201c" + q + "\u201d" +
          (y ? " in " + y : "") + (filters.length ? " (" + filters.join(", ") + ")" : ""));
    } else {
      say(n + (n === 1 ? " result" : " results") + " for \u201c" + q + "\u201d" + (y ? " in " + y : "") +
          (filters.length ? " (" + filters.join(", ") + ")" : ""));
    }
    status.className = "";
  }

  /* The `best` best hits of the current query, when fewer were ranked so far (for the next
   * page): the engine goes on from the best chunks, as for the first page. */
  function moreResults(mine, best) {
    return searchAll(current.query, best).then(function (r) {
      if (mine !== generation) return;
      current.hits = r.hits;
      current.complete = r.complete;
      current.atMost = r.atMost;
      if (r.complete) fillYears(r.years, true);
    });
  }

  function showMore() {
    var mine = generation;
    if (!current.complete && shown >= selectedHits().length) {
      return moreResults(mine, shown + PAGE).then(function () {
        if (mine !== generation) return;
        renderStatus();
        if (current.complete || selectedHits().length > shown) return showMore();
        more.hidden = true;
      }, indexProblem);
    }
    var settled = engines().length === 1 ? Promise.resolve()
      : BroadsheetSearch.settleTies(current.hits, selectedHits(), shown, shown + PAGE, engines());
    var hits;
    return settled.then(function () {
      if (mine !== generation) return [];
      hits = selectedHits().slice(shown, shown + PAGE);
      if (!hits.length) { more.hidden = true; return []; }
      return documentsOf(hits);
    }).then(function (docs) {
      if (mine !== generation || !docs.length) return;
      docs.forEach(function (d) {
        if (!d) return;
        var li = document.createElement("li"), a = document.createElement("a");
        a.href = linkFor(d.url, current.query);
        a.className = "search-result-link";
        a.setAttribute("dir", "auto");
        appendSegments(a, BroadsheetAnalysis.markText(d.title, BroadsheetAnalysis.positiveTerms(current.tree)));
        var date = document.createElement("span");
        date.className = "list-meta";
        date.textContent = " " + d.date;
        var p = document.createElement("p");
        p.className = "search-snippet";
        p.setAttribute("dir", "auto");
        appendSegments(p, BroadsheetSearch.snippet(d.excerpt, current.tree));
        if (d.note) {  // an earlier version: say which, in the link's own name
          var note = document.createElement("span");
          note.className = "search-version";
          note.textContent = " (" + d.note + ")";
          a.appendChild(note);
        }
        li.appendChild(a); li.appendChild(date); li.appendChild(p);
        list.appendChild(li);
      });
      shown += hits.length;
      more.hidden = current.complete && shown >= selectedHits().length;
    }, indexProblem);
  }

  function appendSegments(el, segments) {
    segments.forEach(function (s) {
      if (s.hit) { var m = document.createElement("mark"); m.textContent = s.text; el.appendChild(m); }
      else el.appendChild(document.createTextNode(s.text));
    });
  }

  function resetList() { list.textContent = ""; shown = 0; more.hidden = true; }

  function run(query) {
    var mine = ++generation;
    query = query.trim();
    updateUrl(query);
    if (!query) { current = null; resetList(); say(""); return Promise.resolve(); }
    say("Searching\u2026");
    // With a filter chosen, the best ten that pass it (the engine reads on until they are certain).
    return loadChosenFacets().then(function () { return searchAll(query, PAGE); }).then(function (r) {
      if (mine !== generation) return;
      current = { query: query, tree: r.tree, hits: r.hits, complete: r.complete, atMost: r.atMost };
      if (r.complete) { fillYears(r.years, true); return r; }
      return corpusYears().then(function (years) { fillYears(years, false); return r; });
    }).then(function (r) {
      if (!r || mine !== generation) return;
      resetList();
      renderStatus();
      return showMore();
    }, function (err) {
      if (mine !== generation) return;
      resetList();
      if (err instanceof BroadsheetSearch.QueryError) { say(err.message); status.className = "search-error"; }
      else indexProblem(err);
    });
  }

  function updateUrl(query) {
    var versions = hasEarlier && versionsBox.checked ? "&versions=all" : "";
    try { history.replaceState(null, "", query ? "?q=" + encodeURIComponent(query) + versions : location.pathname); }
    catch (e) { /* some browsers refuse for file:// pages; the query still runs */ }
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { run(input.value); }, DEBOUNCE_MS);
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(timer); run(input.value); });
  /* The documents of every chosen facet value, loaded if not yet. */
  function loadChosenFacets() {
    var chosen = facetSelects.filter(function (s) { return s.value; });
    return Promise.all(engines().map(function (e, part) {
      return Promise.all(chosen.map(function (s) {
        var name = s.getAttribute("data-facet"), value = s.value;
        if (facetSets[part][name][value]) return null;
        return e.facetDocuments(name, value).then(function (docs) { facetSets[part][name][value] = docs; });
      }));
    }));
  }

  [yearSelect].concat(facetSelects).forEach(function (select) {
    select.addEventListener("change", function () {
      if (!current) return;
      if (current.complete) {  // every match at hand: filter them
        var mine = ++generation;
        loadChosenFacets().then(function () {
          if (mine !== generation) return;
          resetList(); renderStatus(); showMore();
        }, indexProblem);
      } else {
        run(input.value);
      }
    });
  });
  more.addEventListener("click", function () {
    var first = list.children.length;
    showMore().then(function () { var a = list.children[first] && list.children[first].querySelector("a"); if (a) a.focus(); });
  });

  // Keyboard: ↓ from the box goes to the first result, ↑/↓ move between results, Esc returns.
  function links() { return Array.prototype.slice.call(list.querySelectorAll("a.search-result-link")); }
  section.addEventListener("keydown", function (e) {
    var all = links(), i = all.indexOf(document.activeElement);
    if (e.key === "ArrowDown" && (document.activeElement === input || i >= 0)) {
      if (i + 1 < all.length) { all[i + 1].focus(); e.preventDefault(); }
    } else if (e.key === "ArrowUp" && i >= 0) {
      (i > 0 ? all[i - 1] : input).focus(); e.preventDefault();
    } else if (e.key === "Escape" && i >= 0) {
      input.focus(); e.preventDefault();
    }
  });

  versionsBox.addEventListener("change", function () { run(input.value); });

  var params = new URLSearchParams(location.search), initial = params.get("q");
  // The checkbox is offered only when the site has earlier versions (their index is always
  // written, empty when there are none); a site built before it had none reads as none.
  var versionsKnown = earlier.ready().then(function (m) { return m.documents > 0; }, function () { return false; });
  Promise.all([engine.facets(), versionsKnown]).then(function (got) {
    fillFacets(got[0]);
    hasEarlier = got[1];
    versionsBox.parentNode.hidden = !hasEarlier;
    versionsBox.checked = hasEarlier && params.get("versions") === "all";
    if (initial) { input.value = initial; run(initial); }
  }, indexProblem);
})();
