/* Article page opened from a search result (?q=...): mark the query's words in the text.
 * Uses the index's own analysis (search-analysis.js), so "attacks" marks "attacked". */
(function () {
  "use strict";
  var query = new URLSearchParams(location.search).get("q");
  if (!query || !window.BroadsheetAnalysis) return;
  var A = window.BroadsheetAnalysis;
  var wanted = A.positiveTerms(A.parseQuery(query));
  if (!Object.keys(wanted.terms).length && !wanted.prefixes.length) return;
  var scope = document.querySelector("article") || document.querySelector("main") || document.body;
  var walker = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT), nodes = [], n;
  while ((n = walker.nextNode())) if (n.nodeValue.trim() && !n.parentNode.closest("script,style,mark")) nodes.push(n);
  var first = null, count = 0;
  nodes.forEach(function (node) {
    var segs = A.markText(node.nodeValue, wanted);
    if (!segs.some(function (s) { return s.hit; })) return;
    var frag = document.createDocumentFragment();
    segs.forEach(function (s) {
      if (!s.hit) { frag.appendChild(document.createTextNode(s.text)); return; }
      var m = document.createElement("mark");
      m.className = "search-term";
      m.textContent = s.text;
      frag.appendChild(m);
      count++;
      first = first || m;
    });
    node.parentNode.replaceChild(frag, node);
  });
  if (first && first.scrollIntoView && location.hash === "") first.scrollIntoView({ block: "center" });
  document.documentElement.setAttribute("data-search-marks", String(count));
})();
