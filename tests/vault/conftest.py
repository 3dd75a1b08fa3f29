"""Vault fixtures: consent on demand, master keys, and a small real photo."""

import base64
import io
import os
from datetime import datetime

import pytest
from PIL import Image

from consent import purposes, selectors
from consent import services as consent_services


def new_master_key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


@pytest.fixture
def master_key(settings):
    settings.VAULT_MASTER_KEYS = new_master_key("k1")
    return settings.VAULT_MASTER_KEYS


def grant(user, *purpose_names):
    for purpose in purpose_names or (purposes.CAMERA_ROLL,):
        notice = selectors.notice_current(purpose=purpose)
        consent_services.consent_give(
            user=user, purpose=purpose, notice_version=notice.version, method="api"
        )


def withdraw(user, purpose=purposes.CAMERA_ROLL):
    return consent_services.consent_withdraw(user=user, purpose=purpose, method="api")


@pytest.fixture
def consented(alice):
    grant(alice)
    return alice


def jpeg_bytes(*, size=(64, 48), color=(200, 40, 40), exif: dict | None = None) -> bytes:
    """A real JPEG; `exif` may hold captured_at (datetime), lat/lon (floats), orientation (int)."""
    image = Image.new("RGB", size, color)
    buffer = io.BytesIO()
    kwargs = {}
    if exif:
        kwargs["exif"] = make_exif(**exif).tobytes()
    image.save(buffer, "JPEG", quality=85, **kwargs)
    return buffer.getvalue()


def _dms(value: float):
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 10000)
    return ((degrees, 1), (minutes, 1), (seconds, 10000))


def make_exif(*, captured_at: datetime | None = None, lat: float | None = None, lon: float | None = None,
              orientation: int | None = None) -> Image.Exif:
    from PIL import ExifTags
    from PIL.TiffImagePlugin import IFDRational

    exif = Image.Exif()
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if captured_at:
        exif[ExifTags.Base.DateTime] = captured_at.strftime("%Y:%m:%d %H:%M:%S")
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = captured_at.strftime("%Y:%m:%d %H:%M:%S")
    if lat is not None and lon is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
        gps[ExifTags.GPS.GPSLatitude] = tuple(IFDRational(n, d) for n, d in _dms(lat))
        gps[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
        gps[ExifTags.GPS.GPSLongitude] = tuple(IFDRational(n, d) for n, d in _dms(lon))
    return exif
