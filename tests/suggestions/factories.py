"""Plain-data stand-ins and generated images for the suggestion engine's tests."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from PIL import Image, ImageDraw

UTC = dt.UTC


@dataclass(frozen=True)
class Item:
    """The fields of vault.gateway.ItemMeta that the engine reads."""

    id: int
    captured_at: dt.datetime | None = None
    lat: float | None = None
    lon: float | None = None
    labels: tuple[str, ...] = ()
    width: int = 4000
    height: int = 3000
    content_type: str = "image/jpeg"
    sha256: str = ""


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


LISBON = (38.7223, -9.1393)
PORTO = (41.1496, -8.6109)
LONDON = (51.5072, -0.1276)
AREZZO = (43.46745, 11.88513)


def solid_jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (640, 480), *, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def pattern_jpeg(seed: int, size: tuple[int, int] = (640, 480), *, exif_orientation: int | None = None) -> bytes:
    """A picture with structure (so hashes differ between seeds), optionally with an EXIF orientation."""
    image = Image.new("RGB", size, ((seed * 53) % 256, (seed * 97) % 256, (seed * 193) % 256))
    draw = ImageDraw.Draw(image)
    w, h = size
    for n in range(6):
        k = (seed * 7 + n * 13) % 10
        draw.rectangle(
            (k * w // 12, n * h // 7, k * w // 12 + w // 4, n * h // 7 + h // 9),
            fill=((seed * 31 + n * 70) % 256, (n * 40) % 256, (255 - seed * 17) % 256),
        )
    buffer = io.BytesIO()
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        image.save(buffer, "JPEG", quality=90, exif=exif)
    else:
        image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
