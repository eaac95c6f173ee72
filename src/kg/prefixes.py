"""The vocabulary prefixes kg reads and writes, as plain strings (no rdflib needed).

The one prefix table of kg: every other table (exports, pages, the JSON-LD context, the query
page, SHACL reports, the service description, the compiler's vocabulary) derives from it, and
the ``PREFIX``/``@prefix`` lines of the ``.rq`` and ``.ttl`` files under ``ontology/`` agree with
it (tests/test_prefixes.py).

``VOCABULARIES`` are the prefixes the data files may use in ``class``/``property`` columns;
``PREFIXES`` adds ``rdf`` and ``owl`` for what kg writes (exports, tables); ``OTHER_PREFIXES``
are vocabularies named in one place only (SHACL, the service description, the ontology header),
not declared in exports; ``ALL_PREFIXES`` is the union.
"""

from __future__ import annotations

from typing import Final

from kg.config import ONTOLOGY_NS

__all__ = ["ALL_PREFIXES", "OTHER_PREFIXES", "PREFIXES", "VOCABULARIES"]

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

OTHER_PREFIXES: Final[dict[str, str]] = {
    "sh": "http://www.w3.org/ns/shacl#",
    "sd": "http://www.w3.org/ns/sparql-service-description#",
    "void": "http://rdfs.org/ns/void#",
    "formats": "http://www.w3.org/ns/formats/",
    "vann": "http://purl.org/vocab/vann/",
    "cur": "http://qudt.org/vocab/currency/",
}

ALL_PREFIXES: Final[dict[str, str]] = {**PREFIXES, **OTHER_PREFIXES}
