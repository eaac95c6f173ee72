"""Maps: the projection drawn with pyvis's vis-network, from our own escaping template.

pyvis builds the node and edge records (:class:`pyvis.network.Network`) and ships vis-network;
its own template is not used, because it has raw-HTML paths: the heading, the select and filter
menus, and tooltips that switch to ``innerHTML`` as soon as a title holds a link. Here:

- the page comes from ``templates/map.html`` through a Jinja environment with autoescape on;
- node and edge data (labels, citations: text from the data) travel as JSON in a
  ``<script type="application/json">`` block, escaped by Jinja's ``tojson`` (``<`` → ``\\u003c``),
  so ``</script>`` in a label cannot end the block;
- ``map.js`` builds tooltips and the detail panel as DOM elements with ``textContent``; no title
  string ever reaches vis-network, whose string titles would be its business.

Two ways out: *served* (scripts and styles from ``/maps/assets/``, no inline script, so the route
can send ``script-src 'self'``) and *self-contained* (every script and style inlined, for
``kg map … -o file.html``; opened from disk, nothing is fetched).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import jinja2
import networkx as nx
from markupsafe import Markup
from pyvis.network import Network

from kg.network.outlines import containing_codes, outline
from kg.network.project import ClassInfo, ancestors, year_of

__all__ = [
    "ASSETS",
    "CATEGORIES",
    "MapOptions",
    "RenderedMap",
    "asset_bytes",
    "category_of",
    "geo_outlines",
    "geo_positions",
    "render_map",
    "render_page",
]

_HERE = Path(__file__).resolve().parent
_TEMPLATES = _HERE / "templates"
_STATIC = _HERE / "static"
_VIS = "templates/lib/vis-9.1.2"

#: Asset name → (where it lives: "pyvis" or "kg", file, media type).
ASSETS: Final[dict[str, tuple[str, str, str]]] = {
    "vis-network.min.js": ("pyvis", f"{_VIS}/vis-network.min.js", "text/javascript"),
    "vis-network.css": ("pyvis", f"{_VIS}/vis-network.css", "text/css"),
    "map.js": ("kg", "map.js", "text/javascript"),
    "map.css": ("kg", "map.css", "text/css"),
}

#: Categories by the first matching class (most specific first): key, class, shape, colour,
#: zh and en legend labels. Colour and shape both differ, for readers who do not see colour.
CATEGORIES: Final[tuple[tuple[str, str, str, str, str, str], ...]] = (
    ("district", "UrbanDistrict", "box", "#1f77b4", "市辖区", "urban district"),
    ("county", "County", "box", "#d62728", "县", "county"),
    ("county", "CountyLevelCity", "box", "#d62728", "县", "county"),
    ("division", "AdministrativeUnit", "ellipse", "#7f7f7f", "行政区划", "division"),
    ("group", "Group", "diamond", "#ff7f0e", "群体(计数)", "group (counted)"),
    ("organization", "Organization", "square", "#2ca02c", "机构", "organisation"),
    ("facility", "Facility", "triangle", "#8c564b", "设施", "facility"),
    ("place", "Place", "triangle", "#c49c94", "地点", "place"),
    ("person", "Person", "star", "#e377c2", "人物", "person"),
    ("event", "Event", "hexagon", "#17becf", "活动", "event"),
    ("programme", "Programme", "triangleDown", "#bcbd22", "项目", "programme"),
    ("product", "Product", "dot", "#9467bd", "产品/品牌", "product / brand"),
    ("product", "Brand", "dot", "#9467bd", "产品/品牌", "product / brand"),
    ("document", "Document", "square", "#aaaaaa", "文件", "document"),
)
_OTHER = ("other", "", "dot", "#97c2fc", "其他", "other")
_UNKNOWN = ("unknown", "", "dot", "#ffffff", "结对方未知", "partner unknown")
#: Degrees of latitude/longitude → canvas pixels on the geo map.
_GEO_SCALE = 140.0


@dataclass(frozen=True)
class MapOptions:
    """How to draw one map."""

    kind: str
    title: str
    lang: str = "zh"
    #: Inline every script and style (a file that works offline, opened from disk).
    self_contained: bool = False
    #: URL prefix of the assets on a served map.
    asset_url: str = "/maps/assets"
    #: Fix nodes at their coordinates (the geo map).
    geo: bool = False
    #: The period the server filtered by (shown in the control), e.g. "2016-2020".
    period: str = ""
    #: The base IRI (``{base}id/...``): entity links go to kg's own pages, never elsewhere.
    base_iri: str = ""
    #: Links in the detail panel (served maps only: a file opened from disk has no server).
    links: bool = True


def category_of(kind: str, classes: Mapping[str, ClassInfo]) -> tuple[str, ...]:
    lineage = ancestors(kind, classes)
    for category in CATEGORIES:
        if category[1] in lineage:
            return category
    return _OTHER


@dataclass(frozen=True)
class GeoFrame:
    """The geo map's projection: equirectangular around the mean of the placed nodes."""

    lon0: float
    lat0: float
    shrink: float

    def project(self, lon: float, lat: float) -> tuple[float, float]:
        return ((lon - self.lon0) * self.shrink * _GEO_SCALE, -(lat - self.lat0) * _GEO_SCALE)


def _geo_placed(graph: nx.MultiDiGraph) -> tuple[dict[str, tuple[float, float]], GeoFrame | None]:
    placed = {
        n: (float(d["long"]), float(d["lat"]))
        for n, d in graph.nodes(data=True)
        if d.get("lat") is not None and d.get("long") is not None
    }
    if not placed:
        return {}, None
    containers = ("partOf", "locatedIn", "within", "place", "venue")
    for _ in range(3):  # a village in a town in a county: follow up to three steps
        for u, v, data in graph.edges(data=True):
            if u not in placed and v in placed and data.get("relation") in containers:
                lon, lat = placed[v]
                angle = (zlib.crc32(u.encode()) % 360) * math.pi / 180  # siblings spread around
                placed[u] = (lon + 0.08 * math.cos(angle), lat + 0.08 * math.sin(angle))
    lat0 = sum(lat for _, lat in placed.values()) / len(placed)
    lon0 = sum(lon for lon, _ in placed.values()) / len(placed)
    return placed, GeoFrame(lon0, lat0, math.cos(math.radians(lat0)))


def geo_positions(graph: nx.MultiDiGraph) -> dict[str, tuple[float, float]]:
    """Canvas x/y for the nodes with coordinates, and for nodes inside one (a school in a
    county) near their container. Equirectangular around the mean, which keeps Guangzhou and
    Qiannan in their true relative positions at this scale."""
    placed, frame = _geo_placed(graph)
    if frame is None:
        return {}
    return {n: frame.project(lon, lat) for n, (lon, lat) in placed.items()}


def geo_outlines(graph: nx.MultiDiGraph) -> list[dict[str, Any]]:
    """The outlines of the provinces and prefectures holding the placed divisions, projected
    like the nodes (see :mod:`kg.network.outlines`): ``{"code", "level", "rings"}``."""
    placed, frame = _geo_placed(graph)
    if frame is None:
        return []
    codes = (str(graph.nodes[n].get("code") or "") for n in placed)
    drawn = []
    for code, level in containing_codes(codes):
        found = outline(code, level)
        if found is None:
            continue
        rings = [
            [[round(v, 1) for v in frame.project(lon, lat)] for lon, lat in ring]
            for ring in found.rings
        ]
        drawn.append({"code": code, "level": level, "rings": rings})
    return drawn


def _label(data: Mapping[str, Any], lang: str) -> str:
    first, second = ("label_en", "label_zh") if lang == "en" else ("label_zh", "label_en")
    return str(data.get(first) or data.get(second) or data.get("iri", ""))


def _network(graph: nx.MultiDiGraph, options: MapOptions) -> Network:
    classes: Mapping[str, ClassInfo] = graph.graph.get("classes", {})
    positions = geo_positions(graph) if options.geo else {}
    net = Network(directed=True, cdn_resources="local")
    for node, data in graph.nodes(data=True):
        if options.geo and node not in positions:
            continue
        category = _UNKNOWN if data.get("unknown") else category_of(data.get("kind", ""), classes)
        info = classes.get(data.get("kind", ""))
        extra: dict[str, Any] = {}
        if node in positions:
            extra = {"x": positions[node][0], "y": positions[node][1], "physics": False}
        unknown = bool(data.get("unknown"))
        label = _label(data, options.lang)
        if unknown:
            label += " (unknown partner)" if options.lang == "en" else "(结对方未知)"
        net.add_node(
            node,
            label=label,
            shape=category[2],
            color=category[3],
            group=category[0],
            kg={
                "iri": node,
                "kind": data.get("kind", ""),
                "kindLabel": (info.label_en if options.lang == "en" else info.label_zh)
                if info
                else "",
                "labelZh": data.get("label_zh", ""),
                "labelEn": data.get("label_en", ""),
                "code": data.get("code", ""),
                "memberCount": data.get("member_count"),
                "unknown": unknown,
                "citations": data.get("unknown_citations", []),
            },
            **extra,
        )
        # pyvis drops the colour of a node that has a group; vis-network would then use its
        # own palette and the legend would lie. Set it on the record pyvis keeps.
        record = net.node_map[node]
        record["color"] = {"background": "#ffffff", "border": "#555555"} if unknown else category[3]
        if category[2] == "box":  # the label sits inside a dark box
            record["font"] = {"color": "#ffffff"}
        if unknown:
            record["shapeProperties"] = {"borderDashes": [4, 4]}
            record["borderWidth"] = 2
    kept = set(net.get_nodes())
    for source, target, key, data in graph.edges(keys=True, data=True):
        if source not in kept or target not in kept:
            continue
        weight = float(data.get("weight") or 1.0)
        net.add_edge(
            source,
            target,
            id=key,
            label=data.get("label", ""),
            dashes=data.get("evidence") == "inferred",
            width=1.0 + math.log10(weight) * 1.5,
            kg={
                "relation": data.get("relation", ""),
                "level": data.get("level", ""),
                "start": data.get("start", ""),
                "end": data.get("end", ""),
                "startYear": year_of(data.get("start")),
                "endYear": year_of(data.get("end")),
                "evidence": data.get("evidence", ""),
                "relationText": data.get("relation_text", ""),
                "claim": data.get("claim", ""),
                "citations": data.get("citations", []),
            },
        )
    net.set_options(_vis_options(len(kept), options.geo))
    return net


def _vis_options(nodes: int, geo: bool) -> str:
    import json  # noqa: PLC0415 - only here

    # Physics settles the layout, then map.js switches it off so the picture stays still.
    # improvedLayout is quadratic: off for large maps.
    return json.dumps(
        {
            "physics": {
                "enabled": not geo,
                # Barnes-Hut is the cheaper solver on large maps.
                "solver": "forceAtlas2Based" if nodes < 500 else "barnesHut",
                "stabilization": {"enabled": True, "iterations": 300 if nodes < 500 else 120},
            },
            "layout": {"improvedLayout": nodes <= 150},
            "interaction": {"hover": True, "tooltipDelay": 150, "navigationButtons": False},
            "edges": {
                "arrows": {"to": {"enabled": True, "scaleFactor": 0.5}},
                "smooth": False,
                "font": {"size": 10, "align": "middle"},
                "color": {"inherit": False, "color": "#888888"},
            },
            "nodes": {"font": {"size": 13}, "borderWidth": 1},
        }
    )


@cache
def asset_bytes(name: str) -> bytes:
    """An asset's content: vis-network from the installed pyvis package, ours from kg."""
    where, path, _ = ASSETS[name]
    if where == "pyvis":
        return resources.files("pyvis").joinpath(path).read_bytes()
    return (_STATIC / path).read_bytes()


def _inline(name: str) -> Markup:
    # Package files, not data; still, "</script" would end the element early and "<!--" could
    # start the parser's escaped state: refuse rather than produce a broken page.
    text = asset_bytes(name).decode("utf-8")
    lowered = text.lower()
    if "</script" in lowered or "</style" in lowered or "<!--" in lowered:
        raise ValueError(f"asset {name} cannot be inlined: it contains a closing tag")
    return Markup(text)  # noqa: S704 - trusted package file, checked above


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _legend(graph: nx.MultiDiGraph, lang: str) -> list[dict[str, str]]:
    classes: Mapping[str, ClassInfo] = graph.graph.get("classes", {})
    seen: dict[str, dict[str, str]] = {}
    for _, data in graph.nodes(data=True):
        category = _UNKNOWN if data.get("unknown") else category_of(data.get("kind", ""), classes)
        seen.setdefault(
            category[0],
            {"key": category[0], "label": category[5] if lang == "en" else category[4]},
        )
    order = [c[0] for c in CATEGORIES] + [_OTHER[0], _UNKNOWN[0]]
    return sorted(seen.values(), key=lambda item: order.index(item["key"]))


@dataclass(frozen=True)
class RenderedMap:
    html: str
    nodes: int
    edges: int


def render_page(
    title: str,
    links: Sequence[Mapping[str, str]] = (),
    message: str = "",
    asset_url: str = "/maps/assets",
) -> str:
    """A plain page (the list of maps, or why a map cannot be drawn), escaped like the maps."""
    template = _environment().get_template("index.html")
    return template.render(title=title, links=list(links), message=message, asset_url=asset_url)


def render_map(graph: nx.MultiDiGraph, options: MapOptions) -> RenderedMap:
    """The map of ``graph`` as an HTML page (see the module docstring for the two modes)."""
    net = _network(graph, options)
    nodes, edges, _heading, _height, _width, vis_options = net.get_network_data()
    import json  # noqa: PLC0415

    data = {
        "nodes": nodes,
        "edges": edges,
        "options": json.loads(vis_options),
        "config": {
            "kind": options.kind,
            "lang": options.lang,
            "geo": options.geo,
            "period": options.period,
            "links": options.links and not options.self_contained,
            "idBase": f"{options.base_iri}id/" if options.base_iri else "",
            # Province and prefecture outlines under the nodes (numbers only, no text).
            "outlines": geo_outlines(graph) if options.geo else [],
        },
    }
    template = _environment().get_template("map.html")
    html = template.render(
        title=options.title,
        lang=options.lang,
        kind=options.kind,
        node_count=len(nodes),
        edge_count=len(edges),
        data=data,
        legend=_legend(graph, options.lang),
        period=options.period,
        self_contained=options.self_contained,
        asset_url=options.asset_url,
        inline={name: _inline(name) for name in ASSETS} if options.self_contained else {},
        en=options.lang == "en",
    )
    return RenderedMap(html, len(nodes), len(edges))
