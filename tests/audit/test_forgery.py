"""Rows written straight into the trail by someone with the database's credentials but not the
service's MAC key: never shown as events, always reported by seq."""

import hashlib
import json
import uuid

import pytest
from django.db import connection
from django.urls import reverse

from audit import selectors, triggers, verification
from audit.keys import event_mac
from audit.models import AuditEvent
from audit.services import EventInput, audit_append, audit_append_many
from audit.verification import audit_verify, register_check

pytestmark = pytest.mark.django_db


def _leaf(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def _forge_after(last: AuditEvent, *, mac: str | None = None, seq: int | None = None) -> dict:
    """A row that extends the chain perfectly (hash, link, columns) but was not MAC'd by the service."""
    seq = seq or last.seq + 1
    event = json.loads(bytes(last.canonical))
    event.update(action="consent.smuggled", event_id=str(uuid.uuid4()))
    if "seq" in event:  # the chained format (v 2) holds its position; an entry does not
        event.update(seq=seq, prev_hash=last.hash)
    body = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
    leaf = _leaf(body)
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (seq, time, actor_kind, actor_id, action, subject_id, object_type, "
            "object_id, purpose, outcome, request_id, details, canonical, prev_hash, hash, event_id, mac) "
            "SELECT %s, time, actor_kind, actor_id, %s, subject_id, object_type, object_id, purpose, outcome, "
            "request_id, details, %s, %s, %s, %s, %s FROM audit_auditevent WHERE seq = %s",
            [seq, "consent.smuggled", body, last.hash, leaf.hex(), event["event_id"], mac or "ab" * 32, last.seq],
        )
    return event


@pytest.fixture
def trail(many_events):
    return many_events(5)


def test_it_never_lists_a_row_inserted_beyond_the_head(trail, audrey, api):
    forged = _forge_after(trail[-1])
    assert AuditEvent.unchecked.filter(seq=6).exists()  # the row is there...
    assert list(AuditEvent.objects.filter(seq=6)) == []
    body = api(audrey).get(reverse("api-audit-events-list")).json()
    assert [e["seq"] for e in body["results"]] == [1, 2, 3, 4, 5]  # ...and never shown
    assert selectors.audit_event_by_id(event_id=forged["event_id"]) is None
    report = audit_verify()
    assert not report.ok and report.first_bad_seq == 6 and report.forged_seqs == [6]
    assert "beyond the chain head" in report.problem


def test_it_reports_a_row_with_a_bad_mac_even_when_the_head_was_moved(trail):
    """The insider also moves the head to cover the row: the MAC still tells."""
    from audit.merkle import CompactRange

    forged = _forge_after(trail[-1])
    tree = CompactRange()
    for event in AuditEvent.unchecked.order_by("seq"):
        tree.append(bytes.fromhex(event.hash))
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_audithead SET size = 6, last_hash = %s, compact_range = %s",
                       [AuditEvent.unchecked.get(seq=6).hash, tree.to_bytes()])
    report = audit_verify()
    assert (report.ok, report.first_bad_seq, report.forged_seqs) == (False, 6, [6])
    assert "MAC does not verify" in report.problem
    assert selectors.audit_event_by_id(event_id=forged["event_id"]) is None
    assert [e.seq for e in selectors.audit_events_filtered()] == [1, 2, 3, 4, 5]


def test_the_trail_page_never_shows_a_forged_row(trail, audrey, client, api):
    forged = _forge_after(trail[-1])
    client.force_login(audrey)
    response = client.get(reverse("audit:trail"))
    page = response.content.decode()
    assert "consent.smuggled" not in page and forged["action"] == "consent.smuggled"
    assert 'data-seq="5"' in page and 'data-seq="6"' not in page
    # Beyond the chain head: not counted, in the list or the chart.
    assert response.context["page"].paginator.count == 5
    assert "Events <span class=\"muted\">(5, newest first)" in page
    assert sum(sum(counts.values()) for _, counts in response.context["chart"]["days"]) == 5
    assert 'data-testid="hidden-rows"' not in page
    body = api(audrey).get(reverse("api-audit-events-list")).json()
    assert body["count"] == 5


def test_the_trail_page_says_when_it_leaves_out_rows_it_counted(trail, audrey, client):
    """A forged row inside the head (the insider moved the head too), and a genuine row whose column
    was changed. The forged row, after the latest checkpoint, is checked against its MAC as the page
    counts (it is not counted); the changed column of a row the checkpoint covers would mean checking
    every row, so the page says it left that one out."""
    from audit.merkle import CompactRange

    _forge_after(trail[-1])
    tree = CompactRange()
    for event in AuditEvent.unchecked.order_by("seq"):
        tree.append(bytes.fromhex(event.hash))
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_audithead SET size = 6, last_hash = %s, compact_range = %s",
                       [AuditEvent.unchecked.get(seq=6).hash, tree.to_bytes()])
        cursor.execute("UPDATE audit_auditevent SET outcome = 'error' WHERE seq = 2")
    client.force_login(audrey)
    response = client.get(reverse("audit:trail"))
    page = response.content.decode()
    assert [row["event"].seq for row in response.context["rows"]] == [5, 4, 3, 1]
    assert response.context["page"].paginator.count == 5
    assert response.context["hidden"] == 1
    assert "1 row on this page is left out" in page and "The count above includes it" in page


def test_it_hides_a_genuine_row_whose_columns_were_changed(trail, audrey, api):
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET outcome = 'error' WHERE seq = 3")
    assert [e.seq for e in AuditEvent.objects.all()] == [1, 2, 4, 5]
    assert [e.seq for e in AuditEvent.objects.iterator()] == [1, 2, 4, 5]
    body = api(audrey).get(reverse("api-audit-events-list")).json()
    assert 3 not in [e["seq"] for e in body["results"]]


def test_a_row_is_genuine_only_with_the_service_key(trail, settings):
    forged_with_key = _forge_after(trail[-1], mac=None)
    assert selectors.audit_event_by_id(event_id=forged_with_key["event_id"]) is None
    row = AuditEvent.unchecked.get(seq=6)
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET mac = %s WHERE seq = 6",
                       [event_mac(bytes.fromhex(row.hash))])
    # With the real key (which the database never holds) the same row would pass.
    assert selectors.audit_event_by_id(event_id=forged_with_key["event_id"]).seq == 6


def test_events_carry_an_event_id_known_before_the_append():
    given = EventInput(action="consent.given", actor_kind="holder", actor_id=1, subject_id=1)
    assert isinstance(given.event_id, uuid.UUID)
    [event] = audit_append_many(events=[given])
    assert event.event_id == str(given.event_id)
    assert json.loads(bytes(event.canonical))["event_id"] == str(given.event_id)
    assert selectors.audit_event_by_id(event_id=given.event_id).seq == event.seq
    chosen = uuid.uuid4()
    assert audit_append(action="media.read", actor_kind="service", event_id=chosen).event_id == str(chosen)
    assert set(selectors.audit_events_by_ids(event_ids=[chosen, given.event_id, "nonsense"])) == {
        str(chosen), str(given.event_id)}


def test_it_refuses_a_malformed_event_id():
    from core.errors import ServiceError

    with pytest.raises(ServiceError, match="event_id"):
        audit_append(action="media.read", actor_kind="service", event_id="not-a-uuid")
    assert AuditEvent.unchecked.count() == 0


def test_registered_cross_checks_run_in_audit_verify(trail, monkeypatch):
    monkeypatch.setattr(verification, "_CROSS_CHECKS", {})
    assert audit_verify().ok
    register_check("ledger", lambda: ["entry 7 names event 1234 which is not a genuine event"])
    report = audit_verify()
    assert not report.ok
    assert report.cross_checks == {"ledger": ["entry 7 names event 1234 which is not a genuine event"]}
    assert report.problem.startswith("ledger: entry 7")

    def broken():
        raise RuntimeError("boom")

    register_check("ledger", broken)
    report = audit_verify()
    assert not report.ok and "could not run" in report.cross_checks["ledger"][0]


def _raw_insert_after(last: AuditEvent, *, seq: int, prev_hash: str):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (seq, time, actor_kind, actor_id, action, subject_id, object_type, "
            "object_id, purpose, outcome, request_id, details, canonical, prev_hash, hash, event_id, mac) "
            "SELECT %s, time, actor_kind, actor_id, action, subject_id, object_type, object_id, purpose, outcome, "
            "request_id, details, canonical, %s, hash, NULL, mac FROM audit_auditevent WHERE seq = %s",
            [seq, prev_hash, last.seq],
        )


@pytest.mark.parametrize(("seq", "link"), [(7, "last"), (100, "last"), (6, "other"), (6, "genesis")])
def test_the_database_refuses_an_insert_that_does_not_extend_the_head(trail, seq, link):
    from django.db import DatabaseError, transaction

    last = trail[-1]
    prev_hash = {"last": last.hash, "other": trail[0].hash, "genesis": "0" * 64}[link]
    # PostgreSQL's guard names the rule; SQLite's is the table's link key (audit.triggers).
    with pytest.raises(DatabaseError, match="must extend the head|FOREIGN KEY constraint failed"), \
            transaction.atomic():
        _raw_insert_after(last, seq=seq, prev_hash=prev_hash)
    assert AuditEvent.unchecked.count() == 5


def test_the_guard_lets_the_next_linked_row_in_and_its_mac_still_tells(trail):
    """The guard checks the link, not the key: a linked row gets in, and is still not genuine."""
    _raw_insert_after(trail[-1], seq=6, prev_hash=trail[-1].hash)
    assert AuditEvent.unchecked.count() == 6
    assert list(AuditEvent.objects.filter(seq=6)) == []
    assert not audit_verify().ok


def test_the_database_refuses_a_checkpoint_beyond_the_trail(trail):
    from django.db import DatabaseError, transaction

    with (pytest.raises(DatabaseError, match="cannot claim events"), transaction.atomic(),
          connection.cursor() as cursor):
        cursor.execute("INSERT INTO audit_auditcheckpoint (tree_size, root_hash, note, created_at) "
                       "VALUES (6, %s, 'x', %s)", ["0" * 64, trail[0].time])
