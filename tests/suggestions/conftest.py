"""Suggestion fixtures: consent on demand, a master key, and a camera roll uploaded through the vault."""

import base64
import datetime as dt
import io
import os

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from consent import purposes
from consent import selectors as consent_selectors
from consent import services as consent_services
from tests.suggestions.factories import LISBON, at


@pytest.fixture(autouse=True)
def small_outputs(monkeypatch):
    """Outputs of a few hundred pixels: the tests are about what goes in, not about size."""
    from suggestions import render

    monkeypatch.setattr(render, "COLLAGE_SIZE", 480)
    monkeypatch.setattr(render, "RECAP_SIZE", 240)
    monkeypatch.setattr(render, "RECAP_VIDEO_SIZE", 160)
    monkeypatch.setattr(render, "STYLIZED_SIZE", 480)


@pytest.fixture(autouse=True)
def master_key(settings):
    settings.VAULT_MASTER_KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
    settings.SUGGESTIONS_PER_PASS = 6
    return settings.VAULT_MASTER_KEYS


@pytest.fixture(autouse=True)
def _a_day_without_memories(midday):
    """Passes plan on the product's clock, and on the day and month of photos taken a year or more before
    it they add "On this day" memories: the wall clock would add them on 14 June (and the other days of
    these tests' photos). The clock is set to a noon no test photo shares; a test of memories passes its
    own `now` or `today`."""
    return midday


def grant(user, *names):
    for purpose in names or (purposes.CAMERA_ROLL,):
        version = consent_selectors.notice_current(purpose=purpose).version
        consent_services.consent_give(user=user, purpose=purpose, notice_version=version, method="api")


def withdraw(user, purpose=purposes.CAMERA_ROLL):
    return consent_services.consent_withdraw(user=user, purpose=purpose, method="api")


def _dms(value: float):
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 10000)
    return tuple(IFDRational(n, d) for n, d in ((degrees, 1), (minutes, 1), (seconds, 10000)))


def photo(colour, *, when: dt.datetime | None = None, where: tuple[float, float] | None = None,
          size=(96, 72), mark: int = 0) -> bytes:
    """A real JPEG of one solid colour (its fingerprint in outputs), with EXIF time and GPS.

    `mark` draws a small dark block at a position of its own, so photos of one colour still
    differ for the near-duplicate check when that is wanted."""
    image = Image.new("RGB", size, colour)
    if mark:
        from PIL import ImageDraw

        w, h = size
        x = (mark * 37) % (w - 12)
        y = (mark * 23) % (h - 12)
        ImageDraw.Draw(image).rectangle((x, y, x + 11, y + 11), fill=(20, 20, 20))
    exif = Image.Exif()
    if when is not None:
        stamp = when.strftime("%Y:%m:%d %H:%M:%S")
        exif[ExifTags.Base.DateTime] = stamp
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = stamp
    if where is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef] = "N" if where[0] >= 0 else "S"
        gps[ExifTags.GPS.GPSLatitude] = _dms(where[0])
        gps[ExifTags.GPS.GPSLongitudeRef] = "E" if where[1] >= 0 else "W"
        gps[ExifTags.GPS.GPSLongitude] = _dms(where[1])
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def upload(user, data: bytes, *, labels=None) -> int:
    from vault.services import media_upload

    return media_upload(user_id=user.pk, data=data, labels=labels or [], method="api").item.pk


# Distinct colours, far enough apart to tell apart after JPEG, resizing and WebP.
COLOURS = [
    (220, 40, 40), (40, 180, 60), (40, 70, 220), (230, 200, 40), (200, 60, 200), (40, 200, 210),
    (240, 130, 30), (120, 60, 20), (150, 150, 150), (250, 170, 200), (90, 20, 120), (20, 100, 60),
]


SATURDAY = at(2025, 6, 14, 10)


def a_day_out(user, colours, *, day=SATURDAY, where=LISBON, labels=None) -> list[int]:
    """One photo per colour, a few minutes apart on one day (14 June 2025 is a Saturday)."""
    return [
        upload(user, photo(colour, when=day + dt.timedelta(minutes=20 * n), where=where, mark=n + 1), labels=labels)
        for n, colour in enumerate(colours)
    ]


def titled(user, **filters) -> list:
    """The holder's suggestions (oldest first) with their sealed titles opened, as the API and page see them."""
    from suggestions import selectors
    from suggestions.models import Suggestion

    found = Suggestion.objects.filter(owner=user, **filters).order_by("id")
    return selectors.suggestions_titled(user_id=user.pk, suggestions=found)


@pytest.fixture
def made(alice):
    """Alice with the feature on, a Saturday of three photos, and the suggestions made from it."""
    from suggestions import services
    from suggestions.models import Suggestion

    grant(alice)
    a_day_out(alice, COLOURS[:3])
    services.suggestions_generate(user_id=alice.pk)
    return list(Suggestion.objects.filter(owner=alice).order_by("id"))


FACES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "faces")


def portrait(*who: str, when: dt.datetime, where: tuple[float, float] | None = LISBON) -> bytes:
    """A JPEG of the fixture portraits side by side (``portrait("obama2", "biden", ...)``: two people in
    one photo), with EXIF time and GPS like a phone's, so face grouping and a moment's title meet."""
    images = [Image.open(os.path.join(FACES, f"{name}.jpg")).convert("RGB") for name in who]
    canvas = Image.new("RGB", (sum(i.width for i in images), max(i.height for i in images)), (250, 250, 250))
    left = 0
    for image in images:
        canvas.paste(image, (left, 0))
        left += image.width
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    exif_source = photo((0, 0, 0), when=when, where=where)
    with Image.open(io.BytesIO(exif_source)) as tagged:
        exif = tagged.getexif()
    out = io.BytesIO()
    Image.open(buffer).save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def a_day_with_friends(user, *, day=SATURDAY) -> dict[str, int]:
    """Three photos of one Saturday in Lisbon: Obama, Biden, and the two of them together (each is in two)."""
    return {
        "obama": upload(user, portrait("obama", when=day)),
        "biden": upload(user, portrait("biden", when=day + dt.timedelta(minutes=30))),
        "both": upload(user, portrait("obama2", "biden", when=day + dt.timedelta(minutes=60))),
    }
