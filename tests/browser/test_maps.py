"""Every kind of network map in headless Chromium, network off: drawn, complete, clean, cited,
and safe against hostile labels (served and as a self-contained file)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from playwright.sync_api import Browser, Route

from kg.config import Settings
from kg.network.service import MapRequest, build_map
from tests.browser.conftest import GuardedPage, open_guarded, server_settings
from tests.network_support import ID, hostile_dataset, load

pytestmark = pytest.mark.browser

BASE = "https://w3id.org/gq-kg/"
HOSTILE_DISTRICT = f"{ID}division/440199"
HOSTILE_LABEL = "<img src=x onerror=window.__pwned=1>区"
HOSTILE_SENTENCE = (
    "<img src=x onerror=window.__pwned=6> 结对 </script><script>window.__pwned=7</script>"
)
#: Probes a successful injection would leave behind.
PWNED = "() => [window.__pwned, document.querySelectorAll('img, svg, iframe, object').length]"

MAPS = {
    "pairings": ("/maps/pairings", MapRequest(kind="pairings")),
    "network": ("/maps/network", MapRequest(kind="network")),
    "geo": ("/maps/geo", MapRequest(kind="geo")),
    "entity": (
        "/maps/entity/id:division/522732",
        MapRequest(kind="entity", entity="id:division/522732"),
    ),
    "first round": ("/maps/pairings?year=2016-2020", MapRequest(kind="pairings", year="2016-2020")),
}


@pytest.fixture(scope="package")
def real_graph(build_settings: Settings) -> nx.MultiDiGraph:
    return load(build_settings.var_dir / "current" / "dataset.nq")


@pytest.fixture(scope="package")
def hostile_server(
    tmp_path_factory: pytest.TempPathFactory,
    serve: Callable[[Settings], AbstractContextManager[str]],
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("maps-hostile")
    settings = server_settings(folder / "var", store="memory", dataset_file=hostile_dataset(folder))
    with serve(settings) as url:
        yield url


def _wait_drawn(page: GuardedPage) -> int:
    """Wait until the map has settled; the node count it declares."""
    page.page.wait_for_selector('#kg-map[data-ready="true"]', state="attached")
    declared = page.page.get_attribute("#kg-map", "data-node-count")
    assert declared is not None
    return int(declared)


def _painted_pixels(page: GuardedPage) -> int:
    return int(
        page.page.evaluate(
            """() => {
              const canvas = document.querySelector('#kg-map canvas');
              const pixels = canvas.getContext('2d')
                .getImageData(0, 0, canvas.width, canvas.height).data;
              let painted = 0;
              for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) painted++; }
              return painted;
            }"""
        )
    )


def _click_node(page: GuardedPage, node: str) -> str:
    """Click a node where it is drawn; the detail panel's text afterwards."""
    point: dict[str, float] = page.page.evaluate(
        """(id) => {
          const net = window.kgMap.network;
          net.focus(id, {scale: 1.5, animation: false});
          const dom = net.canvasToDOM(net.getPositions([id])[id]);
          const box = document.querySelector('#kg-map').getBoundingClientRect();
          return {x: box.left + dom.x, y: box.top + dom.y};
        }""",
        node,
    )
    page.page.mouse.click(point["x"], point["y"])
    return page.page.inner_text("#kg-details")


@pytest.mark.parametrize("name", list(MAPS))
def test_each_map_is_drawn_complete_and_clean(
    guarded: GuardedPage, real_graph: nx.MultiDiGraph, name: str
) -> None:
    path, request = MAPS[name]
    assert guarded.goto(path) == 200
    declared = _wait_drawn(guarded)
    expected = build_map(real_graph, request, BASE).nodes
    assert declared == expected > 0
    assert guarded.page.evaluate("() => window.kgMap.nodes.length") == expected
    assert _painted_pixels(guarded) > 1000
    guarded.assert_clean()


def test_geo_map_draws_province_and_prefecture_outlines(guarded: GuardedPage) -> None:
    path, _ = MAPS["geo"]
    assert guarded.goto(path) == 200
    _wait_drawn(guarded)
    codes = guarded.page.evaluate(
        "() => JSON.parse(document.getElementById('kg-map-data').textContent)"
        ".config.outlines.map(o => o.code)"
    )
    assert {"440000", "440100", "520000", "522700"} <= set(codes)
    # map.js drew every one of them on the canvas before the nodes.
    assert guarded.page.evaluate("() => window.kgMap.outlinesDrawn") == len(codes)
    guarded.assert_clean()


@pytest.mark.parametrize("name", ["pairings", "entity"])
def test_clicking_a_node_shows_its_citation(
    guarded: GuardedPage, real_graph: nx.MultiDiGraph, name: str
) -> None:
    path, _ = MAPS[name]
    node = f"{ID}division/522732"  # 三都水族自治县: paired with 黄埔区 in both rounds
    cited = [c["text"] for _, _, d in real_graph.in_edges(node, data=True) for c in d["citations"]]
    assert guarded.goto(path) == 200
    _wait_drawn(guarded)
    panel = _click_node(guarded, node)
    assert "三都水族自治县" in panel
    assert any(text in panel for text in cited)
    guarded.assert_clean()


def test_hostile_labels_and_sentences_stay_text(browser: Browser, hostile_server: str) -> None:
    page, close = open_guarded(browser, hostile_server)
    try:
        assert page.goto("/maps/network") == 200
        assert _wait_drawn(page) == 5
        # Hover shows the tooltip, click fills the panel: both are where injection would fire.
        panel = _click_node(page, HOSTILE_DISTRICT)
        page.page.mouse.move(5, 5)
        assert HOSTILE_LABEL in panel
        assert HOSTILE_SENTENCE in panel
        assert "第二句 javascript:window.__pwned=8" in panel
        assert page.page.evaluate(PWNED) == [None, 0]
        links = page.page.eval_on_selector_all("#kg-details a", "as => as.map(a => a.href)")
        assert links
        assert all(link.startswith(hostile_server + "/") for link in links)
        page.assert_clean()
    finally:
        close()


def test_self_contained_file_works_offline_and_safely(
    browser: Browser, tmp_path: Path, hostile_server: str
) -> None:
    del hostile_server  # the same hostile data, rendered as a file instead
    graph = load(hostile_dataset(tmp_path))
    rendered = build_map(graph, MapRequest(kind="pairings", self_contained=True), BASE)
    target = tmp_path / "map.html"
    target.write_text(rendered.html, encoding="utf-8")
    context = browser.new_context()
    fetched: list[str] = []
    errors: list[str] = []

    def route(request_route: Route) -> None:
        if request_route.request.url == target.as_uri():
            request_route.continue_()
            return
        fetched.append(request_route.request.url)
        request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: _collect(message, errors))
    try:
        page.goto(target.as_uri())
        page.wait_for_selector('#kg-map[data-ready="true"]', state="attached")
        assert page.evaluate("() => window.kgMap.nodes.length") == rendered.nodes
        assert page.evaluate(PWNED) == [None, 0]
        assert fetched == []
        assert errors == []
    finally:
        context.close()


def _collect(message: Any, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)


def test_period_control_hides_edges_of_other_rounds(
    guarded: GuardedPage, real_graph: nx.MultiDiGraph
) -> None:
    from kg.network.project import active_in

    assert guarded.goto("/maps/pairings") == 200
    _wait_drawn(guarded)
    guarded.page.select_option("#kg-period", "2016-2020")
    shown = guarded.page.evaluate(
        "() => window.kgMap.edges.get({filter: e => !e.hidden}).map(e => e.id)"
    )
    expected = {
        key
        for _, _, key, d in real_graph.edges(keys=True, data=True)
        if d["relation"] == "Pairing"
        and (not (d["start"] or d["end"]) or active_in(d["start"], d["end"], 2016, 2020))
    }
    assert set(shown) == expected
    assert guarded.page.inner_text("#kg-visible-edges") == str(len(expected))
    guarded.assert_clean()


def test_the_maps_index_and_a_query_map_are_drawn_clean(guarded: GuardedPage) -> None:
    assert guarded.goto("/maps/") == 200
    links = guarded.page.eval_on_selector_all("main li a", "as => as.map(a => a.href)")
    assert len(links) >= 8
    assert all(link.startswith(guarded.base_url + "/") for link in links)
    assert guarded.goto("/maps/query?name=network-district-county") == 200
    assert _wait_drawn(guarded) > 10
    assert _painted_pixels(guarded) > 1000
    guarded.assert_clean()


def test_home_and_entity_pages_lead_to_the_maps(guarded: GuardedPage) -> None:
    assert guarded.goto("/") == 200
    assert guarded.page.locator("a[href^='/maps']").count() >= 1
    assert guarded.goto("/id/division/522732") == 200
    # The map is lazy (loading="lazy"): it loads when a reader scrolls to it, below the
    # page's sections (the group pairings put it 4,000 px down).
    guarded.page.locator("iframe.map").scroll_into_view_if_needed()
    frame = guarded.page.frame_locator("iframe.map")
    frame.locator('#kg-map[data-ready="true"]').wait_for(state="attached")
    assert frame.locator("#kg-map").get_attribute("data-node-count") not in (None, "0")
    guarded.assert_clean()
