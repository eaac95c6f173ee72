"""The REST API mints and reads IRIs with the base IRI of the app's own Settings.

The app is created with ``create_app(settings)``; nothing on the request path may fall back
to the process-wide settings (``get_settings()``, whose base IRI is not the app's here).
"""

from __future__ import annotations

from pathlib import Path

from api.app import create_app
from fastapi.testclient import TestClient

from tests.conftest import BASE, MINI, mini_settings
from tests.fixtures.memory_store import MemoryStore

OTHER = "https://data.example.org/kg/"
HAIZHU = OTHER + "id/division/440105"
SANDU = OTHER + "id/division/522732"


def test_rest_api_uses_the_apps_base_iri(tmp_path: Path) -> None:
    dataset = tmp_path / "other.trig"
    mini = MINI.read_text(encoding="utf-8").replace(BASE + "id/", OTHER + "id/")
    # The REST API lists pairings with a level (mini.trig's have none).
    pairing = f"<{OTHER}id/pairing/haizhu-sandu>"
    level = f"<{BASE}graph/article> {{ {pairing} gq:level gq:CountyLevel . }}"
    dataset.write_text(f"{mini}\n{level}\n", encoding="utf-8")
    settings = mini_settings(tmp_path, base_iri=OTHER, dataset_file=dataset)
    app = create_app(settings, store=MemoryStore(dataset, settings=settings))
    with TestClient(app) as client:
        search = client.get("/api/search", params={"q": "海珠"})
        assert search.status_code == 200, search.text
        (hit,) = search.json()["hits"]
        assert hit["entity"]["iri"] == HAIZHU
        assert hit["entity"]["id"] == "id:division/440105"

        entity = client.get("/api/entities/division/440105")
        assert entity.status_code == 200, entity.text
        assert entity.json()["entity"]["iri"] == HAIZHU
        by_id = client.get("/api/entities/id:division/522732")
        assert by_id.status_code == 200, by_id.text
        assert by_id.json()["entity"]["label"] == "三都水族自治县"

        pairings = client.get("/api/pairings", params={"helper": "海珠区"})
        assert pairings.status_code == 200, pairings.text
        (pairing,) = pairings.json()["pairings"]
        assert pairing["iri"] == OTHER + "id/pairing/haizhu-sandu"
        assert pairing["id"] == "id:pairing/haizhu-sandu"
        assert (pairing["helper"]["iri"], pairing["recipient"]["iri"]) == (HAIZHU, SANDU)
        assert pairing["recipient"]["id"] == "id:division/522732"
