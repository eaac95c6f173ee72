"""One prefix table (kg.prefixes): every other table and every prefix line agrees with it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kg import describe, export
from kg.compile import vocab
from kg.config import ONTOLOGY_NS
from kg.prefixes import ALL_PREFIXES, OTHER_PREFIXES, PREFIXES, VOCABULARIES
from kg.sparql import service_description
from kg.validate import ValidationReport
from tests.support.servers import REPO_ROOT

#: ``PREFIX x: <…>`` (SPARQL) and ``@prefix x: <…> .`` (Turtle, TriG).
DECLARATION = re.compile(r"(?im)^\s*(?:PREFIX|@prefix)\s+([A-Za-z][\w.-]*)?:\s*<([^>]*)>")
ONTOLOGY = REPO_ROOT / "ontology"
FILES = sorted([*ONTOLOGY.rglob("*.rq"), *ONTOLOGY.rglob("*.ttl")])


def test_the_table_is_one_name_per_iri_and_one_iri_per_name() -> None:
    assert VOCABULARIES["gq"] == ONTOLOGY_NS
    assert VOCABULARIES.items() <= PREFIXES.items() <= ALL_PREFIXES.items()
    assert not PREFIXES.keys() & OTHER_PREFIXES.keys()
    assert len(set(ALL_PREFIXES.values())) == len(ALL_PREFIXES)


def test_every_other_table_derives_from_it() -> None:
    assert describe.PREFIXES == export.PREFIXES == PREFIXES
    assert vocab.PREFIXES == VOCABULARIES
    assert (str(vocab.GQ), str(vocab.SCHEMA), str(vocab.QB), str(vocab.GEO)) == (
        VOCABULARIES["gq"],
        VOCABULARIES["schema"],
        VOCABULARIES["qb"],
        VOCABULARIES["geo"],
    )
    shacl = dict(ValidationReport(conforms=True, violations=[]).prefixes)
    assert shacl == {**PREFIXES, "sh": ALL_PREFIXES["sh"]}
    assert service_description.DESCRIPTION_PREFIXES.items() <= ALL_PREFIXES.items()
    assert (
        ALL_PREFIXES["sd"],
        ALL_PREFIXES["void"],
    ) == (service_description.SD, service_description.VOID)


def test_the_query_page_declares_the_table(web_app: Callable[..., TestClient]) -> None:
    response = web_app().get("/query/examples.json")
    assert response.status_code == 200
    assert response.json()["prefixes"] == PREFIXES


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ONTOLOGY)))
def test_prefix_lines_agree_with_the_table(path: Path) -> None:
    """A file may declare other prefixes, but never a known name for another IRI nor a known
    IRI under another name (``dcterms:`` for ``dct:``)."""
    names = {iri: name for name, iri in ALL_PREFIXES.items()}
    for match in DECLARATION.finditer(path.read_text(encoding="utf-8")):
        name, iri = match[1] or "", match[2]
        if name in ALL_PREFIXES:
            assert iri == ALL_PREFIXES[name], (name, iri)
        if iri in names:
            assert name == names[iri], (name, iri)
