"""Integration's check that a queued entry is in canonical form (canonical.parse_entry) reads the
fields without encoding the entry again. It must accept exactly what encode_entry writes: every
entry the service writes parses back to the same fields and bytes, and bytes that differ from the
canonical encoding in any way (spacing, key order, escapes, number spelling, a time or id of another
shape) are refused, and set aside by integration even under a valid MAC."""

import uuid

import pytest
from django.db import connection

from audit import canonical, outbox
from audit.models import AuditEvent, AuditSetAside
from audit.services import EventInput, _validated
from core.errors import ServiceError

TIME = "2026-12-06T21:34:25.435755Z"


def _valid(**overrides) -> canonical.ValidEvent:
    fields = {"action": "consent.given", "actor_kind": "holder", "actor_id": "7", "subject_id": 7,
              "object_type": "consent", "object_id": "camera_roll_cloud_processing",
              "purpose": "camera_roll_cloud_processing", "outcome": "allowed", "details": {"count": 3},
              "request_id": "req-1"} | overrides
    return _validated(EventInput(**fields))


VARIED = [
    {},
    {"subject_id": None, "actor_id": None, "request_id": ""},
    {"subject_id": 0},
    {"subject_id": -12},
    {"subject_id": 10**17},
    {"details": {}},
    {"details": {"ids": [1, 2, 3], "codes": ["a", "b.c"], "none": None, "flag": True, "off": False}},
    {"details": {"nested": {"count": 1, "code": "x:y/z+w-1"}, "count": 0}},
    {"details": {"event_id": "abc", "v": 3}},  # keys that are also entry keys
    {"action": "media.upload_refused", "object_type": "_x", "purpose": "", "outcome": "denied", "actor_kind": "system"},
]


@pytest.mark.parametrize("overrides", VARIED)
def test_every_entry_the_service_writes_parses_back_to_its_own_fields_and_bytes(overrides):
    valid = _valid(**overrides)
    body = canonical.encode_entry(valid, time=TIME)
    parsed, time = canonical.parse_entry(body)
    assert (parsed.fields, parsed.details_json, time) == (valid.fields, valid.details_json, TIME)
    assert canonical.encode_entry(parsed, time=time) == body
    again, _ = canonical.parse_entry(body)  # the second time from the cache of canonical details
    assert again.fields == valid.fields
    again.fields["details"]["count"] = 99  # a copy: changing it changes nothing the next parse gives
    assert canonical.parse_entry(body)[0].fields == valid.fields


def _near_misses() -> list[tuple[str, bytes]]:
    body = canonical.encode_entry(_valid(details={"count": 3, "ids": [1, 2]}), time=TIME)
    text = body.decode()
    swaps = {
        "space after a colon": ('"action":"', '"action": "'),
        "space in the details": ('{"count":3', '{"count": 3'),
        "details keys out of order": ('{"count":3,"ids":[1,2]}', '{"ids":[1,2],"count":3}'),
        "a duplicate details key": ('{"count":3,', '{"count":3,"count":3,'),
        "an escaped letter": ('"actor_id":"7"', '"actor_id":"\\u0037"'),
        "an escaped letter in the details": ('"ids"', '"\\u0069ds"'),
        "subject as a float": ('"subject_id":7', '"subject_id":7.0'),
        "subject with a leading zero": ('"subject_id":7', '"subject_id":07'),
        "subject as a bool": ('"subject_id":7', '"subject_id":true'),
        "subject as a string": ('"subject_id":7', '"subject_id":"7"'),
        "a float in the details": ('"count":3', '"count":3.0'),
        "an exponent in the details": ('"count":3', '"count":3e0'),
        "a time without microseconds": (TIME, TIME[:19] + "Z"),
        "a time with an offset": (TIME, TIME[:-1] + "+00:00"),
        "an event id in upper case": ('"event_id":"', '"event_id":"A'),
        "another version": ('"v":3}', '"v":4}'),
        "a key left out": ('"outcome":"allowed",', ""),
        "an extra key": ('"v":3}', '"v":3,"w":1}'),
        "a trailing newline": ('"v":3}', '"v":3}\n'),
        "a space inside a code": ('"request_id":"req-1"', '"request_id":"req 1"'),
        "an unknown actor kind": ('"actor_kind":"holder"', '"actor_kind":"robot"'),
        "details that are a list": ('{"count":3,"ids":[1,2]}', "[1,2]"),
        "details that are not JSON": ('{"count":3,"ids":[1,2]}', '{"count":3,"ids":[1,2}'),
    }
    out = []
    for name, (old, new) in swaps.items():
        assert old in text, name
        out.append((name, text.replace(old, new, 1).encode()))
    out.append(("an event id of another shape",
                text.replace(text.split('"event_id":"')[1][:36], "0" * 32).encode()))
    out.append(("not UTF-8", body.replace(b"req-1", b"req-\xff")))
    return out


@pytest.mark.parametrize(("name", "body"), _near_misses(), ids=[name for name, _ in _near_misses()])
def test_bytes_that_are_not_the_canonical_encoding_are_refused(name, body):
    assert canonical.parse_entry(body) is None, name


def test_a_subject_id_the_column_cannot_hold_is_refused():
    # Stored, it would fail the trail's INSERT and stop every integration after it.
    for subject in (2**63, -(2**63) - 1, 10**18 * 9999):
        with pytest.raises(ServiceError) as raised:
            _valid(subject_id=subject)
        assert raised.value.code == "audit_event_invalid"
    largest = canonical.encode_entry(_valid(subject_id=2**63 - 1), time=TIME)
    assert canonical.parse_entry(largest)[0].fields["subject_id"] == 2**63 - 1
    too_large = largest.replace(b'"subject_id":%d' % (2**63 - 1), b'"subject_id":%d' % 2**63)
    assert canonical.parse_entry(too_large) is None


def test_codes_with_a_trailing_newline_are_not_codes():
    # `$` matches before a final newline: the codes and actions are matched whole.
    for fields in ({"actor_id": "7\n"}, {"action": "consent.given\n"}, {"details": {"count\n": 1}},
                   {"details": {"code": "x\n"}}):
        with pytest.raises(ServiceError) as raised:
            _valid(**fields)
        assert raised.value.code == "audit_event_invalid"


@pytest.mark.django_db
def test_a_queued_entry_not_in_canonical_form_is_set_aside_even_under_a_valid_mac():
    genuine = canonical.encode_entry(_valid(), time=TIME)
    event_id = canonical.parse_entry(genuine)[0].fields["event_id"]
    reordered = genuine.replace(b'{"count":3}', b'{"count":3 }')
    key = outbox.mac_key()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO audit_auditoutbox (event_id, body, mac) VALUES (%s, %s, %s)",
                       [event_id, reordered, canonical.mac(canonical.leaf_hash(reordered), key)])
        other = str(uuid.uuid4())  # a canonical entry queued under another event id than its own
        cursor.execute("INSERT INTO audit_auditoutbox (event_id, body, mac) VALUES (%s, %s, %s)",
                       [other, genuine, canonical.mac(canonical.leaf_hash(genuine), key)])
    outbox.integrate_when_free()
    assert dict(AuditSetAside.objects.values_list("event_id", "reason")) == {event_id: "not_an_entry",
                                                                              other: "not_an_entry"}
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["audit.entry_set_aside"] * 2


@pytest.mark.parametrize("moment", [
    "2026-12-06T21:34:25.435755+00:00", "2026-12-06T21:34:25+00:00", "2026-03-29T01:30:00.000001+05:30",
    "1000-01-01T03:00:00+05:00", "0999-12-31T23:59:59.999999+00:00", "9999-12-31T23:59:59.999999+00:00",
])
def test_it_writes_times_as_strftime_spells_them(moment):
    from datetime import UTC, datetime

    value = datetime.fromisoformat(moment)
    assert canonical.format_time(value) == value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
