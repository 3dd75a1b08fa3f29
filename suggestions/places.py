"""Offline place names: the code is core.places (the photos page names places too, and vault may not
import suggestions); these names stay here for the suggestion engine's own imports."""

from core.places import (  # noqa: F401
    BIG_CITY_POPULATION,
    BIG_CITY_RADIUS_KM,
    IN_PLACE_RADIUS_KM,
    NEAR_PLACE_RADIUS_KM,
    Place,
    PlaceIndex,
    PlaceName,
    default_index,
    haversine_km,
    place_name,
)
