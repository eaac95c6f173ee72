"""The vocabulary prefixes kg reads and writes, as plain strings (no rdflib needed).

``VOCABULARIES`` are the prefixes the data files may use in ``class``/``property`` columns;
``PREFIXES`` adds ``rdf`` and ``owl`` for what kg writes (exports, tables).
"""

from __future__ import annotations

from typing import Final

from kg.config import ONTOLOGY_NS

__all__ = ["PREFIXES", "VOCABULARIES"]

VOCABULARIES: Final[dict[str, str]] = {
    "gq": ONTOLOGY_NS,
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "schema": "https://schema.org/",
    "org": "http://www.w3.org/ns/org#",
    "prov": "http://www.w3.org/ns/prov#",
    "qb": "http://purl.org/linked-data/cube#",
    "geo": "http://www.w3.org/2003/01/geo/wgs84_pos#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

PREFIXES: Final[dict[str, str]] = {
    **VOCABULARIES,
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "owl": "http://www.w3.org/2002/07/owl#",
}
