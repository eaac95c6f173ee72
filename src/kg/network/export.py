"""The network as files for other tools: GEXF (Gephi, with a timeline), GraphML, node-link JSON.

GEXF and GraphML take only scalar attributes, so each edge's citations are flattened into
``citation`` (the sentences' text, joined) and ``sentences`` (their IRIs, space-separated). GEXF
edges carry ``start``/``end`` (the years of the pairing's period) in dynamic mode, so Gephi's
timeline plays the pairing rounds; an open end stays open.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from typing import Any, Final

import networkx as nx

from kg.errors import BadParameter
from kg.network import NETWORK_FORMATS
from kg.network.project import year_of

__all__ = ["NETWORK_FORMATS", "export_network"]


#: What XML 1.0 cannot hold (C0 controls but tab, CR, LF; lone surrogates; U+FFFE, U+FFFF).
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: object) -> object:
    """A text value XML can carry: each character it cannot becomes U+FFFD (a label pasted
    with a form feed made the whole GEXF/GraphML file unreadable)."""
    return _NOT_XML.sub("\ufffd", value) if isinstance(value, str) else value


def _scalars(data: Mapping[str, object]) -> dict[str, Any]:
    return {k: _xml_text(v) for k, v in data.items() if isinstance(v, str | int | float | bool)}


def _flat(graph: nx.MultiDiGraph, *, timeline: bool) -> nx.MultiDiGraph:
    flat = nx.MultiDiGraph()
    for node, data in graph.nodes(data=True):
        scalars = _scalars(data)
        scalars["label"] = _xml_text(data.get("label_zh") or data.get("label_en") or node)
        flat.add_node(node, **scalars)
    for source, target, key, data in graph.edges(keys=True, data=True):
        values = _scalars(data)
        citations = data.get("citations", [])
        values["citation"] = _xml_text(" | ".join(c.get("text", "") for c in citations))
        values["sentences"] = " ".join(c.get("sentence", "") for c in citations)
        if timeline:
            # GEXF's dynamic mode reads start/end as the edge's lifetime: years, integers.
            values.pop("start", None)
            values.pop("end", None)
            values["period_start"] = data.get("start", "")
            values["period_end"] = data.get("end", "")
            start, end = year_of(data.get("start")), year_of(data.get("end"))
            if start is not None:
                values["start"] = start
            if end is not None:
                values["end"] = end
        flat.add_edge(source, target, key=key, **values)
    return flat


def export_network(graph: nx.MultiDiGraph, fmt: str) -> bytes:
    """``graph`` serialised as ``gexf``, ``graphml`` or ``json`` (node-link)."""
    if fmt not in NETWORK_FORMATS:
        raise BadParameter(f"unknown network format {fmt!r}; one of {', '.join(NETWORK_FORMATS)}")
    if fmt == "json":
        body = nx.node_link_data(graph, edges="edges")
        body["graph"] = {"classes": sorted(graph.graph.get("classes", {}))}
        return json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")
    buffer = io.BytesIO()
    if fmt == "gexf":
        nx.write_gexf(_flat(graph, timeline=True), buffer)
    else:
        nx.write_graphml(_flat(graph, timeline=False), buffer)
    return buffer.getvalue()
