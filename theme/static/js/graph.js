/* The graph page: draws the build-time layout in window.BROADSHEET_GRAPH (loaded by a
   <script> tag, so it works from file://), finds nodes by title, opens articles on click,
   hides items not in the archive. No dependencies. */
(function () {
  "use strict";
  var data = window.BROADSHEET_GRAPH;
  var svg = document.getElementById("graph");
  if (!data || !svg) { return; }
  var NS = "http://www.w3.org/2000/svg";
  var W = 1000, H = 700, PAD = 10;
  var find = document.getElementById("graph-find");
  var hide = document.getElementById("graph-hide-external");
  var status = document.getElementById("graph-status");
  var titles = document.getElementById("graph-titles");
  var circles = [];

  function px(n) { return PAD + n.x * (W - 2 * PAD); }
  function py(n) { return PAD + n.y * (H - 2 * PAD); }

  var edges = document.createElementNS(NS, "g");
  var dots = document.createElementNS(NS, "g");
  svg.appendChild(edges);
  svg.appendChild(dots);
  data.edges.forEach(function (e) {
    var a = data.nodes[e[0]], b = data.nodes[e[1]];
    var line = document.createElementNS(NS, "line");
    line.setAttribute("x1", px(a)); line.setAttribute("y1", py(a));
    line.setAttribute("x2", px(b)); line.setAttribute("y2", py(b));
    if (!a.a || !b.a) { line.setAttribute("class", "ext"); }
    edges.appendChild(line);
  });
  var options = document.createDocumentFragment();
  data.nodes.forEach(function (n, i) {
    var c = document.createElementNS(NS, "circle");
    c.setAttribute("cx", px(n)); c.setAttribute("cy", py(n));
    c.setAttribute("r", n.a ? 4 : 3);
    c.setAttribute("class", n.a ? "in-archive" : "not-in-archive ext");
    c.setAttribute("data-index", i);
    var t = document.createElementNS(NS, "title");
    t.textContent = n.t + (n.p ? " (" + n.p + ")" : "") + (n.a ? "" : " (not in the archive)");
    c.appendChild(t);
    dots.appendChild(c);
    circles.push(c);
    if (n.a) {
      var o = document.createElement("option");
      o.value = n.t;
      options.appendChild(o);
    }
  });
  titles.appendChild(options);

  var moved = false;
  dots.addEventListener("click", function (ev) {
    if (moved) { return; }
    var i = ev.target.getAttribute && ev.target.getAttribute("data-index");
    if (i === null || i === undefined) { return; }
    var n = data.nodes[+i];
    if (n.u) { window.location.href = n.u; }
    else { status.textContent = n.t + ": not in the archive"; }
  });

  var view = { x: 0, y: 0, w: W, h: H };
  function setView() { svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" ")); }

  var found = [];
  function search() {
    var q = find.value.trim().toLowerCase();
    found.forEach(function (c) { c.classList.remove("found"); });
    found = [];
    if (!q) { status.textContent = ""; return; }
    data.nodes.forEach(function (n, i) {
      if (n.t.toLowerCase().indexOf(q) !== -1 && (n.a || !hide.checked)) { found.push(circles[i]); }
    });
    found.forEach(function (c) { c.classList.add("found"); dots.appendChild(c); });
    status.textContent = found.length + (found.length === 1 ? " node found" : " nodes found");
    if (found.length === 1) {
      var n = data.nodes[+found[0].getAttribute("data-index")];
      view.w = W / 4; view.h = H / 4;
      view.x = px(n) - view.w / 2; view.y = py(n) - view.h / 2;
      setView();
    }
  }
  find.addEventListener("input", search);
  document.getElementById("graph-controls").addEventListener("submit", function (ev) { ev.preventDefault(); search(); });
  hide.addEventListener("change", function () {
    svg.classList.toggle("hide-external", hide.checked);
    search();
  });

  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var f = ev.deltaY > 0 ? 1.2 : 1 / 1.2;
    var r = svg.getBoundingClientRect();
    var mx = view.x + (ev.clientX - r.left) / r.width * view.w;
    var my = view.y + (ev.clientY - r.top) / r.height * view.h;
    view.x = mx - (mx - view.x) * f; view.y = my - (my - view.y) * f;
    view.w *= f; view.h *= f;
    setView();
  }, { passive: false });
  var drag = null;
  svg.addEventListener("pointerdown", function (ev) { drag = { x: ev.clientX, y: ev.clientY }; moved = false; });
  window.addEventListener("pointerup", function () { drag = null; });
  svg.addEventListener("pointermove", function (ev) {
    if (!drag) { return; }
    var r = svg.getBoundingClientRect();
    var dx = (ev.clientX - drag.x) / r.width * view.w, dy = (ev.clientY - drag.y) / r.height * view.h;
    if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 3) { moved = true; }
    view.x -= dx; view.y -= dy;
    drag = { x: ev.clientX, y: ev.clientY };
    setView();
  });
})();
