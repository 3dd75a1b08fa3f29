"""The demo camera roll (tests/fixtures/demo/, made by tools/make_demo_set.py) makes what the README's tour
promises: a collage of an afternoon at home, a trip to Lisbon with its recap and a stylised image, two people
found by face grouping, and once they are named a suggestion that says who was there ("Ana and Ben in Lisbon")."""

import datetime as dt
from pathlib import Path

import pytest

from consent import purposes
from suggestions import people, services
from tests.suggestions.conftest import grant, titled, upload

pytestmark = pytest.mark.django_db

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo"
NOW = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)


def demo_photos() -> list[Path]:
    return sorted(DEMO.rglob("*.jpg"))


def test_the_demo_set_is_small_and_credited():
    photos = demo_photos()
    assert len(photos) == 16
    assert sum(p.stat().st_size for p in photos) < 3_000_000
    notes = (DEMO / "README.md").read_text()
    assert "ianare/exif-samples" in notes and "CC BY-SA 4.0" in notes
    assert "ageitgey/face_recognition" in notes and "public domain" in notes


def test_the_demo_set_makes_every_kind_of_suggestion(alice):
    grant(alice, purposes.CAMERA_ROLL, purposes.FACE_ANALYSIS)
    ids = {path.name: upload(alice, path.read_bytes()) for path in demo_photos()}
    services.suggestions_generate(user_id=alice.pk, now=NOW)
    first = {(s.kind, s.title) for s in titled(alice)}
    assert ("collage", "Lisbon, 3 days") in first  # the trip
    assert ("recap", "Lisbon, 3 days, the highlights") in first
    assert any(kind == "stylized" and title.startswith("Lisbon, 3 days, ") for kind, title in first)
    assert not any(title.startswith("Ana") for _, title in first)

    found = {p.id: p for p in people.people_list(user_id=alice.pk)}
    assert len(found) == 2
    ana = next(p for p in found.values() if ids["IMG_0202.jpg"] in p.item_ids)  # the first portraits
    ben = next(p for p in found.values() if ids["IMG_0203.jpg"] in p.item_ids)
    both = {ids[name] for name in ("IMG_0205.jpg", "IMG_0207.jpg", "IMG_0209.jpg")}
    assert set(ana.item_ids) == both | {ids["IMG_0202.jpg"]}
    assert set(ben.item_ids) == both | {ids["IMG_0203.jpg"]}

    people.people_name(user_id=alice.pk, names={ana.id: "Ana", ben.id: "Ben"})
    services.suggestions_generate(user_id=alice.pk, now=NOW)
    after = {(s.kind, s.title) for s in titled(alice)} - first
    assert ("collage", "Ana and Ben in Lisbon") in after
    assert ("recap", "Ana and Ben in Lisbon, the highlights") in after
    assert ("collage", "Saturday in Arezzo, 3 May") in first | after  # an afternoon at home
