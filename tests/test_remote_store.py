"""The remote store's request and answer handling, against a scripted endpoint (httpx mock).

What engines other than Oxigraph need (tests/test_remote_virtuoso.py runs the real Virtuoso):
URL-encoded POSTs, one BASE declaration, Virtuoso's blank node labels, its SECURITY refusals.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from kg.errors import ForbiddenQuery, KgError
from kg.store.base import QueryRequest
from kg.store.remote import RemoteStore
from tests.test_store import base_settings

GRAPHS = (
    b'{"head":{"vars":["g"]},"results":{"bindings":[{"g":{"type":"uri","value":"http://e/g"}}]}}'
)
COUNT = b'{"head":{"vars":["n"]},"results":{"bindings":[{"n":{"type":"literal","value":"3"}}]}}'


def run(
    tmp: Path, answer: httpx.Response, text: str, base: str | None = None
) -> tuple[bytes, list[dict[str, list[str]]]]:
    """Body of kg's answer to ``text`` and the forms the endpoint received."""
    forms: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = parse_qs(request.content.decode("ascii"))
        forms.append(form)
        if "GROUP BY ?g" in form["query"][0]:
            return httpx.Response(200, content=GRAPHS, headers=JSON)
        if "COUNT(*)" in form["query"][0]:
            return httpx.Response(200, content=COUNT, headers=JSON)
        return answer

    async def main() -> bytes:
        settings = base_settings(tmp, store="remote", remote_url="http://e/sparql")
        store = RemoteStore(settings, transport=httpx.MockTransport(handler))
        await store.start()
        try:
            result = await store.query(
                QueryRequest(text, base_iri=base, default_graph_uris=("http://e/g",))
            )
            return result.body
        finally:
            await store.close()

    return asyncio.run(main()), forms


JSON = {"content-type": "application/sparql-results+json"}


def test_form_post_with_one_base(tmp_path: Path) -> None:
    empty = httpx.Response(
        200, content=b'{"head":{"vars":["s"]},"results":{"bindings":[]}}', headers=JSON
    )
    _, forms = run(
        tmp_path, empty, "BASE <q/x.rq>\nSELECT ?s WHERE { ?s ?p ?o }", "http://k/sparql"
    )
    sent = forms[-1]
    assert sent["default-graph-uri"] == ["http://e/g"]
    assert sent["query"][0].count("BASE") == 1
    assert sent["query"][0].startswith("BASE <http://k/q/x.rq>\nSELECT")
    _, forms = run(tmp_path, empty, "SELECT ?s WHERE { ?s ?p ?o }", "http://k/sparql")
    assert forms[-1]["query"][0] == "BASE <http://k/sparql>\nSELECT ?s WHERE { ?s ?p ?o }"


def test_virtuoso_blank_nodes_are_relabelled(tmp_path: Path) -> None:
    bindings = [
        {"s": {"type": "bnode", "value": "nodeID://b10006"}},
        {"s": {"type": "bnode", "value": "nodeID://b10006"}},
        {"s": {"type": "bnode", "value": "nodeID://b10007"}},
    ]
    body = json.dumps({"head": {"vars": ["s"]}, "results": {"bindings": bindings}}).encode()
    answer, _ = run(
        tmp_path, httpx.Response(200, content=body, headers=JSON), "SELECT ?s {?s ?p ?o}"
    )
    labels = [b["s"]["value"] for b in json.loads(answer)["results"]["bindings"]]
    assert len(labels) == 3
    assert labels[0] == labels[1] != labels[2]
    assert all(b["s"]["type"] == "bnode" for b in json.loads(answer)["results"]["bindings"])


def test_virtuoso_security_refusal_is_forbidden(tmp_path: Path) -> None:
    message = (
        b"Virtuoso 42000 Error SR186:SECURITY: No permission to execute procedure DB.DBA.RDF_GRAB"
    )
    with pytest.raises(KgError) as caught:
        run(tmp_path, httpx.Response(500, content=message), "SELECT * { ?s ?p ?o }")
    assert isinstance(caught.value, ForbiddenQuery)
    assert "RDF_GRAB" in caught.value.message
