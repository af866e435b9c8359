/* Broadsheet search page: the form, the result list, the year, outlet and label filters, "more results".
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
  var facetSets = {};  // {facet: {value: Set of documents}}, each loaded when first picked
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  var more = document.getElementById("search-more");
  var siteurl = section.getAttribute("data-siteurl") || ".";
  var engine = BroadsheetSearch.createEngine({ base: section.getAttribute("data-index") });
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

  function selectedHits() {
    var y = yearSelect.value;
    var chosen = facetSelects.filter(function (s) { return s.value; })
      .map(function (s) { return facetSets[s.getAttribute("data-facet")][s.value]; });
    return current.hits.filter(function (h) {
      return (!y || String(h.year) === y) && chosen.every(function (docs) { return docs.has(h.doc); });
    });
  }

  function fillFacets(counts) {
    facetSelects.forEach(function (select) {
      var values = counts[select.getAttribute("data-facet")];
      if (!values) return;
      facetSets[select.getAttribute("data-facet")] = {};
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
      say("The " + n + " best of up to " + current.atMost.toLocaleString("en") + " results for \u201c" + q + "\u201d");
    } else {
      say(n + (n === 1 ? " result" : " results") + " for \u201c" + q + "\u201d" + (y ? " in " + y : "") +
          (filters.length ? " (" + filters.join(", ") + ")" : ""));
    }
    status.className = "";
  }

  /* Every match of the current query, when only the best were ranked so far (for the next
   * page and the filters). */
  function completeResults(mine) {
    if (!current || current.complete) return Promise.resolve();
    return engine.search(current.query, { all: true }).then(function (r) {
      if (mine !== generation) return;
      current.hits = r.hits;
      current.complete = true;
      fillYears(r.years, true);
    });
  }

  function showMore() {
    var mine = generation;
    if (!current.complete && shown >= current.hits.length) {
      return completeResults(mine).then(function () {
        if (mine !== generation) return;
        renderStatus();
        return showMore();
      }, indexProblem);
    }
    var hits = selectedHits().slice(shown, shown + PAGE);
    if (!hits.length) { more.hidden = true; return Promise.resolve(); }
    return engine.documents(hits.map(function (h) { return h.doc; })).then(function (docs) {
      if (mine !== generation) return;
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
    // With a filter chosen, every match is needed (the best ten may all be filtered out).
    var filtered = yearSelect.value || facetSelects.some(function (s) { return s.value; });
    return loadChosenFacets().then(function () { return engine.search(query, { all: filtered }); }).then(function (r) {
      if (mine !== generation) return;
      current = { query: query, tree: r.tree, hits: r.hits, complete: r.complete, atMost: r.atMost };
      if (r.complete) { fillYears(r.years, true); return r; }
      return engine.corpusYears().then(function (years) { fillYears(years, false); return r; });
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
    try { history.replaceState(null, "", query ? "?q=" + encodeURIComponent(query) : location.pathname); }
    catch (e) { /* some browsers refuse for file:// pages; the query still runs */ }
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { run(input.value); }, DEBOUNCE_MS);
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(timer); run(input.value); });
  /* The documents of every chosen facet value, loaded if not yet. */
  function loadChosenFacets() {
    return Promise.all(facetSelects.filter(function (s) { return s.value; }).map(function (s) {
      var name = s.getAttribute("data-facet"), value = s.value;
      if (facetSets[name][value]) return null;
      return engine.facetDocuments(name, value).then(function (docs) { facetSets[name][value] = docs; });
    }));
  }

  [yearSelect].concat(facetSelects).forEach(function (select) {
    select.addEventListener("change", function () {
      var mine = ++generation;
      loadChosenFacets().then(function () { return completeResults(mine); }).then(function () {
        if (!current || mine !== generation) return;
        resetList(); renderStatus(); showMore();
      }, indexProblem);
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

  var initial = new URLSearchParams(location.search).get("q");
  engine.facets().then(function (sets) {
    fillFacets(sets);
    if (initial) { input.value = initial; run(initial); }
  }, indexProblem);
})();
