"""Integration verifies before it integrates: an entry the service did not write (a foreign MAC key,
no MAC, not an entry, a replay) is set aside, raised as an alarm, and never integrated, so no listing,
count, export, tile, checkpoint or witness ever holds it; audit_verify fails until an operator
acknowledges it. Also: a trail written in the chained format continues as entries, and a witness that
cosigned before the change cosigns after it. On SQLite and on PostgreSQL."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from audit import canonical, notes, outbox, selectors
from audit.export import export_stream
from audit.models import AuditCheckpoint, AuditEvent, AuditOutbox, AuditSetAside
from audit.services import EventInput, _validated, audit_append, audit_checkpoint_create, audit_export_begin
from audit.verification import audit_verify
from core import signing
from core.uow import Actor
from tests.audit import legacy
from tests.tools import load_tool

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
FOREIGN_KEY = "f" * 40


verifier = load_tool("verify_audit_export")
witness = load_tool("witness")


def _write_under_foreign_key(**fields) -> str:
    """The service's own writer (the queue, as writers use it with AUDIT_SEQUENCER=outbox), run by
    someone with the code and the database but another MAC key."""
    event = EventInput(action="consent.given", actor_kind="holder", actor_id=1, subject_id=1,
                       purpose="camera_roll_cloud_processing", **fields)
    with override_settings(AUDIT_MAC_KEY=FOREIGN_KEY):
        [pending] = outbox.queue_write([_validated(event)], timezone.now())
    return pending.event_id


def _export_jsonl() -> bytes:
    filters = {"since": None, "until": None, "subject_id": None, "actor": None, "action": None, "outcome": None}
    checkpoint = audit_export_begin(fmt="jsonl", filters=filters, actor=Actor.auditor(5))
    return b"".join(export_stream(fmt="jsonl", checkpoint=checkpoint, filters=filters))


def _leaves() -> set[str]:
    return set(AuditEvent.unchecked.values_list("hash", flat=True))


def test_an_entry_written_under_a_foreign_key_is_never_listed_counted_exported_or_signed(many_events, audrey, api):
    many_events(3)
    audit_checkpoint_create()
    foreign = _write_under_foreign_key()
    body = bytes(AuditOutbox.objects.get(event_id=foreign).body)
    assert selectors.audit_event_by_id(event_id=foreign) is None  # pending, but not genuine
    outbox.integrate_when_free()  # the service's sequencer, with the service's key

    assert not AuditOutbox.objects.exists()
    assert not AuditEvent.unchecked.filter(event_id=foreign).exists()
    assert canonical.leaf_hash(body).hex() not in _leaves()
    [set_aside] = AuditSetAside.objects.all()
    assert (set_aside.event_id, set_aside.reason, bytes(set_aside.body)) == (foreign, "mac_invalid", body)
    alarm = AuditEvent.objects.get(action="audit.entry_set_aside")
    assert (alarm.seq, alarm.object_id, alarm.outcome, alarm.details) == (4, str(set_aside.pk), "error",
                                                                         {"code": "mac_invalid"})
    listed = api(audrey).get(reverse("api-audit-events-list")).json()
    assert listed["count"] == 4 and foreign not in json.dumps(listed)
    data = _export_jsonl()
    assert foreign.encode() not in data
    summary = verifier.verify(io.BytesIO(data), verifier.load_public_key(
        signing.public_key_pem("AUDIT_SIGNING_KEY").encode()))
    assert (summary["tree_size"], summary["events"]) == (5, 5)
    assert AuditCheckpoint.objects.order_by("-tree_size").first().tree_size == 5
    assert selectors.audit_event_by_id(event_id=foreign) is None

    report = audit_verify()
    assert not report.ok and report.unacknowledged == [set_aside.pk]
    assert f"entry set aside #{set_aside.pk} (mac_invalid) is not acknowledged" in report.problem
    call_command("audit_acknowledge", str(set_aside.pk), stdout=io.StringIO())
    report = audit_verify()
    assert report.ok, report.problems
    assert AuditEvent.objects.filter(action="audit.set_aside_acknowledged", object_id=str(set_aside.pk)).exists()


def test_each_refused_entry_is_set_aside_with_its_reason_and_verify_names_them_all(many_events):
    [genuine] = many_events(1)
    foreign = _write_under_foreign_key()
    with connection.cursor() as cursor:
        # a row written by SQL with no MAC; bytes that are not an entry under a valid MAC; a replay
        cursor.execute("INSERT INTO audit_auditoutbox (event_id, body, mac) VALUES (%s, %s, %s)",
                       ["00000000-0000-4000-8000-000000000001", b'{"action":"consent.given"}', ""])
        not_entry = b'{"action":"consent.given","v":3}'
        cursor.execute("INSERT INTO audit_auditoutbox (event_id, body, mac) VALUES (%s, %s, %s)",
                       ["00000000-0000-4000-8000-000000000002", not_entry,
                        canonical.mac(canonical.leaf_hash(not_entry), outbox.mac_key())])
        cursor.execute("INSERT INTO audit_auditoutbox (event_id, body, mac) VALUES (%s, %s, %s)",
                       [genuine.event_id, bytes(genuine.canonical), genuine.mac])
    genuine_later = audit_append(action="media.read", actor_kind="service")  # inline writers leave the queue be
    outbox.integrate_when_free()
    reasons = dict(AuditSetAside.objects.values_list("event_id", "reason"))
    assert reasons == {foreign: "mac_invalid", "00000000-0000-4000-8000-000000000001": "mac_invalid",
                       "00000000-0000-4000-8000-000000000002": "not_an_entry", genuine.event_id: "event_id_taken"}
    assert AuditEvent.objects.filter(event_id=genuine.event_id).count() == 1
    assert AuditEvent.objects.filter(action="audit.entry_set_aside").count() == 4
    assert genuine_later.seq == 2
    report = audit_verify()
    set_aside = [p for p in report.problems if p["kind"] == "set_aside"]
    assert len(set_aside) == 4 and report.unacknowledged == sorted(AuditSetAside.objects.values_list("id", flat=True))
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("audit_verify", "--no-progress", "--json", stdout=out)
    printed = json.loads(out.getvalue())
    assert printed["ok"] is False and len([p for p in printed["problems"] if p["kind"] == "set_aside"]) == 4
    call_command("audit_acknowledge", "--all", stdout=io.StringIO())
    assert audit_verify().ok
    assert AuditEvent.objects.filter(action="audit.set_aside_acknowledged").count() == 4


def test_acknowledging_an_unknown_entry_is_refused():
    with pytest.raises(CommandError, match="No entry was set aside with id 9"):
        call_command("audit_acknowledge", "9")


def test_verify_names_every_problem_not_only_the_first(many_events):
    """Two forged rows beyond the head and a set-aside entry: all three, and the cross-checks, are named."""
    from audit import triggers

    many_events(3)
    _write_under_foreign_key()
    outbox.integrate_when_free()
    with triggers.suspended(), connection.cursor() as cursor:
        for seq in (40, 41):
            cursor.execute("INSERT INTO audit_auditevent (seq, time, actor_kind, actor_id, action, subject_id, "
                           "object_type, object_id, purpose, outcome, request_id, details, canonical, prev_hash, "
                           "hash, event_id, mac) SELECT %s, time, actor_kind, actor_id, action, subject_id, "
                           "object_type, object_id, purpose, outcome, request_id, details, canonical, prev_hash, "
                           "hash, NULL, mac FROM audit_auditevent WHERE seq = 1", [seq])
        report = audit_verify()
    kinds = [p["kind"] for p in report.problems]
    assert kinds.count("forged") == 2 and kinds.count("set_aside") == 1
    assert report.forged_seqs == [40, 41]


def test_a_witness_that_cosigned_the_chained_trail_cosigns_it_continued_as_entries(tmp_path, settings, audrey, api,
                                                                                     many_events):
    settings.AUDIT_CHECKPOINT_EVERY = 1000
    key_path = tmp_path / "witness.pem"
    name = "auditor.example/witness"
    settings.AUDIT_WITNESSES = [witness.init(str(key_path), name)]
    legacy.append_chained(300)  # more than a tile: the tiles continue across the change too
    audit_checkpoint_create()
    log_vkey = notes.verifier_key(settings.AUDIT_CHECKPOINT_ORIGIN, signing.public_key("AUDIT_SIGNING_KEY"))
    state = tmp_path / "state.json"

    class ApiLog(witness.Log):
        def __init__(self, client):
            super().__init__("/api/v1/", None)
            self.client = client

        def request(self, method, path, body=None):
            response = self.client.generic(method, self.base + path, body or b"", content_type="application/json")
            return response.status_code, response.content

    def run():
        return witness.witness_once(log=ApiLog(api(audrey)), log_vkey=log_vkey, key=witness.load_key(str(key_path)),
                                    name=name, state_path=str(state), say=lambda _: None)

    assert run()["tree_size"] == 300
    assert audit_verify().ok
    many_events(230)  # entries now, across the second tile's end
    _write_under_foreign_key()
    outbox.integrate_when_free()
    call_command("audit_acknowledge", "--all", stdout=io.StringIO())
    audit_checkpoint_create()
    cosigned = run()
    assert cosigned["tree_size"] == 300 + 230 + 2  # the alarm and its acknowledgement; never the foreign entry
    bodies = [bytes(body) for body in AuditEvent.objects.order_by("seq").values_list("canonical", flat=True)]
    assert json.loads(bodies[299])["v"] == 2 and json.loads(bodies[300])["v"] == 3
    report = audit_verify(witnessed_notes=[json.loads(state.read_text())["note"]])
    assert report.ok, report.problems
    assert report.witnessed == 3  # the stored cosignatures at 300 and 532, and the witness's own state
    data = _export_jsonl()
    summary = verifier.verify(io.BytesIO(data), verifier.load_public_key(
        signing.public_key_pem("AUDIT_SIGNING_KEY").encode()))
    assert summary["events"] == 533  # both formats, checked offline


def test_a_process_with_another_key_that_integrates_inline_gets_nothing_signed(many_events):
    """The service's code run with another MAC key, integrating its own entry inline as a SQLite writer
    does: to the trail that is a row written straight into it. The checkpoint rewinds it out of the
    tree before it signs (audit.rewind), the export never carries it, it is never returned as an
    event, and audit_verify names it, set aside, until an operator acknowledges it."""
    many_events(3)
    audit_checkpoint_create()
    with override_settings(AUDIT_MAC_KEY=FOREIGN_KEY, AUDIT_SEQUENCER="inline"):
        forged = audit_append(action="consent.given", actor_kind="holder", actor_id=1, subject_id=1)
    assert forged.seq == 4
    assert selectors.audit_event_by_id(event_id=forged.event_id) is None
    checkpoint = audit_checkpoint_create()
    assert checkpoint.tree_size == 5  # the rewind's record and the alarm; never the foreign entry
    assert not AuditEvent.unchecked.filter(event_id=forged.event_id).exists()
    data = _export_jsonl()
    assert forged.event_id.encode() not in data
    [set_aside] = AuditSetAside.objects.all()
    report = audit_verify()
    assert not report.ok and report.forged_seqs == [] and report.unacknowledged == [set_aside.pk]


def _listed(api, audrey) -> dict:
    return api(audrey).get(reverse("api-audit-events-list"), {"page_size": 100}).json()


def test_an_entry_a_foreign_key_integrated_inline_is_never_counted_and_never_signed(
        many_events, audrey, api, tmp_path, settings):
    """The service's own code with another MAC key, integrating inline (SQLite always, PostgreSQL with
    AUDIT_SEQUENCER=inline): the row is in the tree until the next checkpoint. The events API neither
    lists nor counts it meanwhile; the checkpoint rewinds the unsigned tail and integrates the genuine
    entries again without it, sets it aside with an alarm and signs, so a witness that cosigned before
    cosigns the result; audit_verify fails until an operator acknowledges it, and the export never
    carries it."""
    key_path = tmp_path / "witness.pem"
    name = "auditor.example/witness"
    settings.AUDIT_WITNESSES = [witness.init(str(key_path), name)]
    log_vkey = notes.verifier_key(settings.AUDIT_CHECKPOINT_ORIGIN, signing.public_key("AUDIT_SIGNING_KEY"))
    state = tmp_path / "state.json"

    class ApiLog(witness.Log):
        def __init__(self, client):
            super().__init__("/api/v1/", None)
            self.client = client

        def request(self, method, path, body=None):
            response = self.client.generic(method, self.base + path, body or b"", content_type="application/json")
            return response.status_code, response.content

    def cosign():
        return witness.witness_once(log=ApiLog(api(audrey)), log_vkey=log_vkey, key=witness.load_key(str(key_path)),
                                    name=name, state_path=str(state), say=lambda _: None)

    many_events(3)
    audit_checkpoint_create()
    assert cosign()["tree_size"] == 3
    many_events(1)
    assert _listed(api, audrey)["count"] == 4  # the rows after the checkpoint, checked (and remembered)
    with override_settings(AUDIT_MAC_KEY=FOREIGN_KEY, AUDIT_SEQUENCER="inline"):
        forged = audit_append(action="consent.given", actor_kind="holder", actor_id=1, subject_id=1)
    assert forged.seq == 5
    [after] = many_events(1)  # a genuine event after it, at seq 6
    listed = _listed(api, audrey)
    assert listed["count"] == 5 and len(listed["results"]) == 5 and forged.event_id not in json.dumps(listed)
    assert not any(row["seq"] == 5 for row in listed["results"])

    checkpoint = audit_checkpoint_create()
    assert checkpoint.tree_size == 7  # 4, the genuine one moved from 6 to 5, the rewind, the alarm
    assert AuditEvent.objects.get(event_id=after.event_id).seq == 5
    [set_aside] = AuditSetAside.objects.all()
    assert (set_aside.seq, set_aside.event_id, set_aside.reason) == (None, forged.event_id, "mac_invalid")
    alarm = AuditEvent.objects.get(action="audit.entry_set_aside")
    assert (alarm.seq, alarm.details) == (7, {"code": "mac_invalid"})
    assert cosign()["tree_size"] == 7  # the witness that cosigned at 3 cosigns across the rewind
    report = audit_verify(witnessed_notes=[json.loads(state.read_text())["note"]])
    assert not report.ok and report.forged_seqs == [] and report.unacknowledged == [set_aside.pk]
    assert _listed(api, audrey)["count"] == 7

    call_command("audit_acknowledge", str(set_aside.pk), stdout=io.StringIO())
    checkpoint = audit_checkpoint_create()
    assert checkpoint.tree_size == 8
    assert cosign()["tree_size"] == 8
    report = audit_verify(witnessed_notes=[json.loads(state.read_text())["note"]])
    assert report.ok, report.problems
    listed = _listed(api, audrey)
    assert listed["count"] == 8 and forged.event_id not in json.dumps(listed)
    data = _export_jsonl()
    assert forged.event_id.encode() not in data
    summary = verifier.verify(io.BytesIO(data), verifier.load_public_key(
        signing.public_key_pem("AUDIT_SIGNING_KEY").encode()))
    assert (summary["tree_size"], summary["events"]) == (9, 9)  # the export's own event; no gap
    csv_data = b"".join(export_stream(fmt="csv", checkpoint=AuditCheckpoint.objects.order_by("-tree_size")[0],
                                      filters={}))
    assert forged.event_id.encode() not in csv_data
