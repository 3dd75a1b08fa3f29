"""Fixtures for support and the holder's rights: a second agent, cases in every state, consent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import SUPPORT
from consent import purposes
from consent import selectors as consent_selectors
from consent import services as consent_services
from core.uow import Actor
from support import services
from support.models import SupportCase
from tests.conftest import make_user, unit_of


@pytest.fixture
def sue(db):
    """Another support agent: she has no case of her own on alice."""
    return make_user("sue", SUPPORT)


def grant(user, purpose=purposes.CAMERA_ROLL):
    version = consent_selectors.notice_current(purpose=purpose).version
    return consent_services.consent_give(user=user, purpose=purpose, notice_version=version, method="web")


def open_case(agent, subject, *, ticket="4411", reason="Holder phoned: wants the camera roll feature off"):
    return services.case_open(actor=Actor.support(agent.pk), user_id=subject.pk, reason=reason, ticket=ticket)


def expire(case: SupportCase) -> SupportCase:
    """Move a case's end into the past, as if its hours had run out (nothing else is touched)."""
    with unit_of(case.subject_id):
        SupportCase.objects.filter(pk=case.pk).update(
            opened_at=case.opened_at - timedelta(hours=9), expires_at=timezone.now() - timedelta(seconds=1)
        )
    case.refresh_from_db()
    return case


@pytest.fixture
def case_in_state():
    """case_in_state(state, agent, subject): 'none', 'closed' or 'expired' -> the case (or None)."""

    def make(state, agent, subject):
        if state == "none":
            return None
        case = open_case(agent, subject)
        if state == "closed":
            services.case_close(actor=Actor.support(agent.pk), case_id=case.pk)
        elif state == "expired":
            expire(case)
        case.refresh_from_db()
        return case

    return make


def photo(index: int = 0, *, size=(24, 16), gps: tuple[float, float] | None = (48.8584, 2.2945)) -> bytes:
    """A small real JPEG, different for every index, with a capture time and (by default) a place."""
    import io
    from datetime import datetime

    from PIL import ExifTags, Image
    from PIL.TiffImagePlugin import IFDRational

    image = Image.new("RGB", size, ((index * 37) % 256, (index * 91) % 256, (index * 13 + 80) % 256))
    image.putpixel((index % size[0], 0), (255, 255, 255))
    exif = Image.Exif()
    stamp = datetime(2026, 5, 3, 14, index % 60).strftime("%Y:%m:%d %H:%M:%S")
    exif[ExifTags.Base.DateTime] = stamp
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = stamp
    if gps:
        lat, lon = gps
        info = exif.get_ifd(ExifTags.IFD.GPSInfo)
        info[ExifTags.GPS.GPSLatitudeRef] = "N"
        info[ExifTags.GPS.GPSLatitude] = (IFDRational(int(lat), 1), IFDRational(int(lat % 1 * 60), 1),
                                          IFDRational(0, 1))
        info[ExifTags.GPS.GPSLongitudeRef] = "E"
        info[ExifTags.GPS.GPSLongitude] = (IFDRational(int(lon), 1), IFDRational(int(lon % 1 * 60), 1),
                                           IFDRational(0, 1))
    buffer = io.BytesIO()
    image.save(buffer, "PNG" if index % 2 else "JPEG", exif=exif.tobytes(), **({} if index % 2 else {"quality": 95}))
    return buffer.getvalue()


def upload(user, count: int = 1, *, start: int = 0, labels=("beach", "sunset")) -> list[int]:
    """Put `count` photos in the holder's cloud through the vault (consent must be on)."""
    from vault import services as vault_services

    ids = []
    for index in range(start, start + count):
        result = vault_services.media_upload(user_id=user.pk, data=photo(index), filename=f"IMG_{index}.jpg",
                                             labels=list(labels))
        ids.append(result.item.pk)
    return ids
