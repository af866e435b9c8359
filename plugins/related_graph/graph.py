"""The resolved network as data: nodes and edges, exports (JSON, GEXF, GraphML), layouts.

`build_network` turns a `ResolvedGraph` into a networkx DiGraph whose node and edge
attributes are exactly the fields of `data/graph.json`; the exports and the page data
are written from that one graph. Layouts are computed here at build time (pure Python,
deterministic), so the browser only draws.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import networkx as nx

from broadsheet.files import atomic_write
from broadsheet.related import RelatedEntry
from broadsheet.spreadsheet import safe_row

from .resolve import ResolvedGraph, normalise_title


def external_node_id(entry: RelatedEntry) -> str:
    """Items outside the archive are one node per outlet id (or per title when id-less)."""
    return f"item:{entry.id}" if entry.id else f"item:title:{normalise_title(entry.title)}"


def build_network(resolved: ResolvedGraph, urls: dict[str, str]) -> nx.DiGraph:
    """Archive articles and listed items as nodes; one edge per related entry."""
    g = nx.DiGraph()
    for key, item in resolved.items.items():
        g.add_node(key, title=item.title, in_archive=True, url=urls.get(key),
                   published=item.date.isoformat(), media="article",
                   source_id=resolved.ids.get(key), video_of=None)
    for r in resolved.resolutions:
        target = r.target
        if target is None:
            target = external_node_id(r.entry)
            if target not in g:
                g.add_node(target, title=r.entry.title, in_archive=False, url=None,
                           published=r.entry.published.isoformat() if r.entry.published else None,
                           media=r.entry.media, source_id=r.entry.id or None, video_of=r.video_of)
            elif r.video_of and not g.nodes[target]["video_of"]:
                g.nodes[target]["video_of"] = r.video_of
        if g.has_edge(r.lister, target):
            continue  # a list naming one item twice is one link
        g.add_edge(r.lister, target, resolved_by=r.resolved_by, score=r.score)
    return g


def graph_json(g: nx.DiGraph) -> dict[str, Any]:
    return {
        "nodes": [{"id": n, **{k: d[k] for k in ("title", "in_archive", "url", "published", "media",
                                                   "source_id", "video_of")}} for n, d in g.nodes(data=True)],
        "edges": [{"source": u, "target": v, "resolved_by": d["resolved_by"], "score": d["score"]}
                  for u, v, d in g.edges(data=True)],
    }


def _gephi_ready(g: nx.DiGraph) -> nx.DiGraph:
    """GEXF and GraphML have no null: missing values become empty strings, scores 0 = none."""
    h = nx.DiGraph()
    for n, d in g.nodes(data=True):
        h.add_node(n, **{k: ("" if v is None else v) for k, v in d.items()})
    for u, v, d in g.edges(data=True):
        h.add_edge(u, v, resolved_by=d["resolved_by"], score=float(d["score"] or 0.0))
    return h


#: Columns of data/graph-nodes.csv and data/graph-edges.csv (the fields of graph.json).
NODE_COLUMNS = ("id", "title", "in_archive", "url", "published", "media", "source_id", "video_of")
EDGE_COLUMNS = ("source", "target", "resolved_by", "score")


def graph_csv(g: nx.DiGraph) -> tuple[str, str]:
    """The nodes and the edges as two RFC 4180 tables (cells made safe for spreadsheets),
    nodes by (published, id), edges by their ends' places in that order, so the files do not
    depend on the order the graph was built in."""
    data = graph_json(g)
    nodes = sorted(data["nodes"], key=lambda n: (n["published"] or "", n["id"]))
    place = {n["id"]: i for i, n in enumerate(nodes)}
    edges = sorted(data["edges"], key=lambda e: (place[e["source"]], place[e["target"]]))
    tables = []
    for columns, rows in ((NODE_COLUMNS, nodes), (EDGE_COLUMNS, edges)):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(safe_row({k: "" if v is None else ("true" if v is True else "false" if v is False else v)
                                      for k, v in row.items()}))
        tables.append(out.getvalue())
    return tables[0], tables[1]


def write_exports(g: nx.DiGraph, data_dir: Path) -> list[Path]:
    """data/graph.json, data/graph.gexf, data/graph.graphml, data/graph-nodes.csv, data/graph-edges.csv."""
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = [data_dir / "graph.json", data_dir / "graph.gexf", data_dir / "graph.graphml",
             data_dir / "graph-nodes.csv", data_dir / "graph-edges.csv"]
    atomic_write(paths[0], json.dumps(graph_json(g), ensure_ascii=False, indent=0) + "\n")
    h = _gephi_ready(g)
    nx.write_gexf(h, paths[1])
    nx.write_graphml(h, paths[2])
    for path, table in zip(paths[3:], graph_csv(g)):
        atomic_write(path, table)
    return paths


# -- layouts ------------------------------------------------------------------------------

def force_layout(nodes: list[str], edges: list[tuple[str, str]], seed: int = 1,
                 iterations: int = 60, start: dict[str, tuple[float, float]] | None = None,
                 ) -> dict[str, tuple[float, float]]:
    """Fruchterman-Reingold in the unit square; repulsion only between nearby nodes (grid cells),
    so an iteration costs about linear time. Deterministic for a given seed."""
    rng = random.Random(seed)
    n = len(nodes)
    if n == 0:
        return {}
    if n == 1:
        return {nodes[0]: (0.5, 0.5)}
    pos = {v: list(start[v]) if start and v in start else [rng.random(), rng.random()] for v in nodes}
    k = math.sqrt(1.0 / n)
    cell = 2 * k
    temperature = 0.1
    for _ in range(iterations):
        disp = {v: [0.0, 0.0] for v in nodes}
        grid: dict[tuple[int, int], list[str]] = defaultdict(list)
        for v, (x, y) in pos.items():
            grid[(int(x / cell), int(y / cell))].append(v)
        for (cx, cy), members in grid.items():
            near = [u for dx in (-1, 0, 1) for dy in (-1, 0, 1) for u in grid.get((cx + dx, cy + dy), ())]
            for v in members:
                px, py = pos[v]
                d = disp[v]
                for u in near:
                    if u == v:
                        continue
                    dx, dy = px - pos[u][0], py - pos[u][1]
                    dist2 = dx * dx + dy * dy or 1e-9
                    f = k * k / dist2
                    d[0] += dx * f
                    d[1] += dy * f
        for a, b in edges:
            dx, dy = pos[a][0] - pos[b][0], pos[a][1] - pos[b][1]
            dist = math.sqrt(dx * dx + dy * dy) or 1e-9
            f = dist / k
            disp[a][0] -= dx * f
            disp[a][1] -= dy * f
            disp[b][0] += dx * f
            disp[b][1] += dy * f
        for v in nodes:
            dx, dy = disp[v]
            length = math.sqrt(dx * dx + dy * dy) or 1e-9
            step = min(length, temperature)
            pos[v][0] = min(1.0, max(0.0, pos[v][0] + dx / length * step))
            pos[v][1] = min(1.0, max(0.0, pos[v][1] + dy / length * step))
        temperature *= 0.95
    return {v: (round(x, 4), round(y, 4)) for v, (x, y) in pos.items()}


def timeline_start(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Initial positions: x follows publication time, y is spread evenly (older left)."""
    dated = sorted((d.get("published") or "", n) for n, d in g.nodes(data=True))
    count = max(1, len(dated) - 1)
    rng = random.Random(7)
    return {n: (i / count, rng.random()) for i, (_, n) in enumerate(dated)}


def page_layout(g: nx.DiGraph, max_force_nodes: int) -> dict[str, tuple[float, float]]:
    """Positions for the graph page: force-directed, or the timeline alone for huge graphs."""
    start = timeline_start(g)
    if g.number_of_nodes() > max_force_nodes:
        return {n: (round(x, 4), round(y, 4)) for n, (x, y) in start.items()}
    return force_layout(list(g.nodes), list(g.edges), start=start)


def page_data(g: nx.DiGraph, positions: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """Compact data for the graph page: node table, edges by node index."""
    order = list(g.nodes)
    index = {n: i for i, n in enumerate(order)}
    nodes = []
    for n in order:
        d = g.nodes[n]
        x, y = positions[n]
        nodes.append({"t": d["title"], "u": d["url"], "a": d["in_archive"], "m": d["media"],
                      "p": (d["published"] or "")[:10], "x": x, "y": y})
    edges = [[index[u], index[v]] for u, v in g.edges]
    return {"nodes": nodes, "edges": edges}


def _neighbours(g: nx.DiGraph, v: str) -> list[str]:
    return sorted(set(g.successors(v)) | set(g.predecessors(v)))


def neighbourhood(g: nx.DiGraph, centre: str, max_nodes: int, size: int = 240) -> dict[str, Any]:
    """Depth-2 neighbourhood (related and cited-by) laid out radially for an inline SVG.

    The centre sits in the middle, its direct links on an inner ring, their links on an
    outer ring next to the node that brought them in. A radial layout is O(n) and needs
    no iterations: the site has one of these per article.
    """
    first = _neighbours(g, centre)[: max_nodes - 1]
    parent: dict[str, str] = {}
    for v in first:
        for w in _neighbours(g, v):
            if len(first) + 1 + len(parent) >= max_nodes:
                break
            if w != centre and w not in first and w not in parent:
                parent[w] = v
    keep = [centre, *first, *parent]
    half = size / 2
    inner, outer = half * 0.45, half * 0.88
    angle: dict[str, float] = {}
    at: dict[str, tuple[float, float]] = {centre: (half, half)}
    for i, v in enumerate(first):
        angle[v] = 2 * math.pi * i / max(1, len(first))
        at[v] = (half + inner * math.cos(angle[v]), half + inner * math.sin(angle[v]))
    children: dict[str, list[str]] = defaultdict(list)
    for w, v in parent.items():
        children[v].append(w)
    spread = 2 * math.pi / max(1, len(first))
    for v, ws in children.items():
        for j, w in enumerate(ws):
            a = angle[v] + spread * ((j + 1) / (len(ws) + 1) - 0.5)
            at[w] = (half + outer * math.cos(a), half + outer * math.sin(a))

    nodes = []
    for v in keep:
        d = g.nodes[v]
        x, y = at[v]
        nodes.append({"x": round(x, 1), "y": round(y, 1), "title": d["title"], "url": d["url"],
                      "in_archive": d["in_archive"], "centre": v == centre,
                      "depth": 0 if v == centre else (1 if v in angle else 2)})
    edges = []
    # The edges among the kept nodes, in the order of `keep`, so that pages are byte-identical
    # across runs (read off the adjacency: a subgraph view costs more than the whole layout).
    order = {v: i for i, v in enumerate(keep)}
    among = [(u, v) for u in keep for v in g.succ[u] if v in order]
    for u, v in sorted(among, key=lambda e: (order[e[0]], order[e[1]])):
        (x1, y1), (x2, y2) = at[u], at[v]
        edges.append({"x1": round(x1, 1), "y1": round(y1, 1), "x2": round(x2, 1), "y2": round(y2, 1)})
    return {"size": size, "nodes": nodes, "edges": edges}
