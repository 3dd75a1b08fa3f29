"""Nothing the service signs can contain a row it did not write (issue 21): an entry integrated inline by
a process running the service's code under a foreign MAC key never gets under a signed checkpoint,
global or holder, acknowledged or not. Before it signs, the checkpointer rewinds the unsigned tail
and integrates the genuine entries again without it (audit.rewind); entry bundles never serve its
bytes; the holder's activity chart never counts it; and the database still refuses to delete or
change anything under a signed checkpoint, rewind or not. On SQLite and on PostgreSQL."""

import io
import json
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from audit import canonical, merkle, notes, outbox
from audit.keys import mac_key
from audit.models import AuditCheckpoint, AuditEvent, AuditSetAside, AuditTile, HolderCheckpoint, HolderLogTile
from audit.services import EventInput, audit_append, audit_append_many, audit_checkpoint_create, audit_checkpoint_if_due
from audit.verification import audit_verify
from core import signing
from support import access_log
from tests.audit import legacy
from tests.tools import load_tool

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
FOREIGN_KEY = "f" * 40


witness = load_tool("witness")


def _about(holder: int, n: int, start: int = 0) -> list[AuditEvent]:
    """n genuine events about the holder, integrated (by the sequencer's own call when it runs)."""
    events = audit_append_many(events=[
        EventInput(action="media.read", actor_kind="service", actor_id="suggestions", subject_id=holder,
                   object_type="media_item", object_id=start + i, purpose="sharing_suggestions", details={"count": i})
        for i in range(n)])
    if outbox.enabled():  # what the sequencer thread does after the commit (PostgreSQL, AUDIT_SEQUENCER=outbox)
        outbox.integrate_when_free()
        found = {e.event_id: e for e in AuditEvent.objects.filter(event_id__in=[e.event_id for e in events])}
        events = [found[e.event_id] for e in events]
    return events


@pytest.fixture(params=["inline", "outbox"])
def sequencer(request, settings):
    """Both ways the service integrates: inline (SQLite always) and by the sequencer (PostgreSQL's default)."""
    if request.param == "outbox" and connection.vendor != "postgresql":
        pytest.skip("the sequencer runs on PostgreSQL only")
    settings.AUDIT_SEQUENCER = request.param
    return request.param


def _foreign_inline(holder: int) -> AuditEvent:
    """The service's own code, run with the database but another MAC key, integrating inline (as every
    SQLite writer does, and PostgreSQL's with AUDIT_SEQUENCER=inline)."""
    with override_settings(AUDIT_MAC_KEY=FOREIGN_KEY, AUDIT_SEQUENCER="inline"):
        return audit_append(action="consent.given", actor_kind="holder", actor_id=holder, subject_id=holder,
                            purpose="camera_roll_cloud_processing")


def _own_leaves() -> list[tuple[int, bytes, int | None]]:
    """(seq, leaf hash, subject) of every row of the trail whose MAC verifies under the service's key,
    in order: the service's own entries, recomputed from the rows, not from the tree."""
    key = mac_key()
    own = []
    for seq, body, mac, subject in AuditEvent.unchecked.order_by("seq").values_list("seq", "canonical", "mac",
                                                                                   "subject_id"):
        leaf = canonical.leaf_hash(bytes(body))
        if canonical.mac_ok(bytes(body), leaf, mac, key):
            own.append((seq, leaf, subject))
    return own


def _assert_every_signature_holds_only_own_entries(forged_body: bytes) -> None:
    """Every signed checkpoint, global and holder, verifies under the audit key and has the root of
    the service's own entries only; the foreign entry's leaf is in no stored tile."""
    public = signing.public_key("AUDIT_SIGNING_KEY")
    name = django_settings.AUDIT_CHECKPOINT_ORIGIN
    own = _own_leaves()
    forged_leaf = canonical.leaf_hash(forged_body)
    checkpoints = list(AuditCheckpoint.objects.order_by("tree_size"))
    assert checkpoints
    for checkpoint in checkpoints:
        opened = notes.open_checkpoint(checkpoint.note, public_key=public, key_name=name)
        under = own[: checkpoint.tree_size]
        assert [seq for seq, _, _ in under] == list(range(1, checkpoint.tree_size + 1))  # no gap: all its own
        assert opened.root_hash == merkle.root_of([leaf for _, leaf, _ in under])
    holder_checkpoints = list(HolderCheckpoint.objects.order_by("subject_id", "tree_size"))
    assert holder_checkpoints
    for checkpoint in holder_checkpoints:
        opened = notes.open_checkpoint(checkpoint.note, public_key=public, key_name=name)
        theirs = [leaf for _, leaf, subject in own if subject == checkpoint.subject_id]
        assert opened.root_hash == merkle.root_of(theirs[: checkpoint.tree_size])
    stored = b"".join(bytes(h) for h in AuditTile.objects.values_list("hashes", flat=True))
    stored += b"".join(bytes(h) for h in HolderLogTile.objects.values_list("hashes", flat=True))
    assert all(stored[i : i + 32] != forged_leaf for i in range(0, len(stored), 32))


def _bundle(client, path: str) -> bytes:
    response = client.get(path)
    assert response.status_code == 200, response.content
    return response.content


def _all_bundles(client, prefix: str, size: int) -> bytes:
    out = b""
    for index in range((size + 255) // 256):
        width = min(256, size - 256 * index)
        out += _bundle(client, f"{prefix}tile/entries/{index:03d}" + ("" if width == 256 else f".p/{width}"))
    return out


class ApiLog(witness.Log):
    def __init__(self, client):
        super().__init__("/api/v1/", None)
        self.client = client

    def request(self, method, path, body=None):
        response = self.client.generic(method, self.base + path, body or b"", content_type="application/json")
        return response.status_code, response.content


@pytest.mark.usefixtures("midday")  # the chart's "today" is the first event's: the rest on the same day
def test_a_foreign_entry_integrated_inline_is_never_under_a_signed_checkpoint_acknowledged_or_not(
        alice, audrey, api, tmp_path, settings, sequencer):
    key_path = tmp_path / "witness.pem"
    name = "auditor.example/witness"
    settings.AUDIT_WITNESSES = [witness.init(str(key_path), name)]
    log_vkey = notes.verifier_key(settings.AUDIT_CHECKPOINT_ORIGIN, signing.public_key("AUDIT_SIGNING_KEY"))
    state = tmp_path / "state.json"

    def cosign():
        return witness.witness_once(log=ApiLog(api(audrey)), log_vkey=log_vkey, key=witness.load_key(str(key_path)),
                                    name=name, state_path=str(state), say=lambda _: None)

    first = _about(alice.pk, 250)
    today = timezone.localdate(first[0].time)
    audit_checkpoint_if_due()  # the periodic checkpoint: alice's log signed at 250, then the global tree
    signed_before = AuditCheckpoint.objects.order_by("-tree_size")[0].tree_size
    assert signed_before == 251 and cosign()["tree_size"] == 251
    forged = _foreign_inline(alice.pk)
    forged_body = bytes(AuditEvent.unchecked.get(event_id=forged.event_id).canonical)
    assert forged.seq == 252
    _about(alice.pk, 20, start=250)  # genuine, after it: the global tile 0 and alice's tile 0 fill over it
    assert AuditTile.objects.filter(level=0, index=0).exists()
    assert HolderLogTile.objects.filter(subject_id=alice.pk, level=0, index=0).exists()
    # The chart counts only rows the service wrote, before the checkpointer has even looked.
    assert access_log.activity(user_id=alice.pk, today=today).total == 270

    audit_checkpoint_if_due()  # not acknowledged: the tail is rewound, the rest signed
    [set_aside] = AuditSetAside.objects.all()
    assert (set_aside.event_id, set_aside.reason, set_aside.seq, bytes(set_aside.body)) == (
        forged.event_id, "mac_invalid", None, forged_body)
    assert not AuditEvent.unchecked.filter(event_id=forged.event_id).exists()
    rewound = AuditEvent.objects.get(action="audit.tail_rewound")
    assert rewound.details == {"from_size": 272, "to_size": 251, "dropped_seqs": [252]}
    _assert_every_signature_holds_only_own_entries(forged_body)
    size = AuditCheckpoint.objects.order_by("-tree_size")[0].tree_size
    assert cosign()["tree_size"] == size  # the witness that cosigned 251 cosigns across the rewind
    assert forged_body not in _all_bundles(api(audrey), "/api/v1/audit/tlog/", size)
    holder_size = HolderCheckpoint.objects.filter(subject_id=alice.pk).order_by("-tree_size")[0].tree_size
    assert holder_size == 270
    assert forged_body not in _all_bundles(api(alice), "/api/v1/me/tlog/", holder_size)
    assert access_log.activity(user_id=alice.pk, today=today).total == 270
    report = audit_verify(witnessed_notes=[json.loads(state.read_text())["note"]])
    assert not report.ok and report.unacknowledged == [set_aside.pk]  # an operator must know

    call_command("audit_acknowledge", str(set_aside.pk), stdout=io.StringIO())
    _about(alice.pk, 1, start=270)
    audit_checkpoint_if_due()  # acknowledged: still never signed over
    _assert_every_signature_holds_only_own_entries(forged_body)
    size = AuditCheckpoint.objects.order_by("-tree_size")[0].tree_size
    assert cosign()["tree_size"] == size
    assert forged_body not in _all_bundles(api(audrey), "/api/v1/audit/tlog/", size)
    holder_size = HolderCheckpoint.objects.filter(subject_id=alice.pk).order_by("-tree_size")[0].tree_size
    assert forged_body not in _all_bundles(api(alice), "/api/v1/me/tlog/", holder_size)
    assert access_log.activity(user_id=alice.pk, today=today).total == 271
    report = audit_verify(witnessed_notes=[json.loads(state.read_text())["note"]], holder_logs=True)
    assert report.ok, report.problems


def test_the_rewind_stops_after_events_in_the_chained_format(alice):
    """Chained events carry their seq and cannot move: the tree is rewound to after the last of them."""
    legacy.append_chained(5)  # never signed: they are the unsigned tail when the format changes
    forged = _foreign_inline(alice.pk)
    forged_body = bytes(AuditEvent.unchecked.get(event_id=forged.event_id).canonical)
    _about(alice.pk, 3)
    checkpoint = audit_checkpoint_create(holder_heads=True)
    assert AuditEvent.objects.get(action="audit.tail_rewound").details == {"from_size": 9, "to_size": 5,
                                                                          "dropped_seqs": [6]}
    assert checkpoint.tree_size == AuditEvent.unchecked.count()
    assert [json.loads(bytes(body))["v"] for body in AuditEvent.unchecked.order_by("seq")[:6]
            .values_list("canonical", flat=True)] == [2, 2, 2, 2, 2, 3]
    _assert_every_signature_holds_only_own_entries(forged_body)


def _refused(sql: str, params=()) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:
        return True
    return False


def test_the_guards_refuse_every_change_under_the_signed_checkpoint_even_during_a_rewind(alice, sequencer):
    _about(alice.pk, 300)
    audit_checkpoint_create(holder_heads=True)
    signed = AuditCheckpoint.objects.order_by("-tree_size")[0].tree_size
    _about(alice.pk, 2, start=300)  # an unsigned tail
    head = AuditEvent.unchecked.order_by("-seq")[0].seq
    assert head == signed + 2
    tail_delete = ("DELETE FROM audit_auditevent WHERE seq = %s", [head])
    assert _refused(*tail_delete)  # no rewind open: nothing goes, signed or not
    assert _refused("DELETE FROM audit_holderlogentry WHERE seq = %s", [head])
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO audit_audittailrewind (from_size, to_size) VALUES (%s, %s)", [head, 0])
        # A rewind open (as an insider could open one): still nothing under the signed checkpoint goes.
        assert _refused("DELETE FROM audit_auditevent WHERE seq = %s", [signed])
        assert _refused("DELETE FROM audit_auditevent WHERE seq <= %s", [signed])
        assert _refused("DELETE FROM audit_holderlogentry WHERE subject_id = %s AND seq <= %s", [alice.pk, signed])
        assert _refused('DELETE FROM audit_audittile WHERE level = 0 AND "index" = 0')
        assert _refused('DELETE FROM audit_holderlogtile WHERE subject_id = %s AND level = 0 AND "index" = 0',
                        [alice.pk])
        assert _refused("DELETE FROM audit_auditcheckpoint")
        assert _refused("DELETE FROM audit_holdercheckpoint")
        assert _refused("UPDATE audit_auditevent SET actor_id = 'x' WHERE seq = %s", [head])  # nor any UPDATE
        assert _refused("UPDATE audit_auditevent SET actor_id = 'x' WHERE seq = %s", [signed])
        # What it opens the door to: the unsigned tail, and only that.
        assert not _refused(*tail_delete)
        assert audit_verify().cross_checks["database guards"] == [
            "audit_audittailrewind holds 1 row(s): a tail rewind was opened outside a checkpoint"]
        transaction.set_rollback(True)
    assert AuditEvent.unchecked.filter(seq=head).exists()
    assert audit_verify().ok


def test_a_holder_log_a_foreign_process_opened_is_opened_again_under_the_service_key(alice, bob, sequencer):
    """The foreign process's first entry about bob created bob's log (its id MAC'd under its own key):
    the rewind removes that log, and bob's genuine entries open it again under the service's key."""
    from audit import holder_logs

    _about(alice.pk, 3)
    audit_checkpoint_create(holder_heads=True)
    forged = _foreign_inline(bob.pk)
    assert holder_logs.log_of(bob.pk).log_id != holder_logs.log_id_for(bob.pk, mac_key())
    _about(bob.pk, 2)
    audit_checkpoint_create(holder_heads=True)
    log = holder_logs.log_of(bob.pk)
    assert (log.log_id, log.size, log.signed_size) == (holder_logs.log_id_for(bob.pk, mac_key()), 2, 2)
    _assert_every_signature_holds_only_own_entries(
        bytes(AuditSetAside.objects.get(event_id=forged.event_id).body))
    call_command("audit_acknowledge", "--all", stdout=io.StringIO())
    report = audit_verify(holder_logs=True)  # the holder logs checked against the trail, too
    assert report.ok, report.problems


def test_consent_reads_the_genuine_newest_event_across_a_rewind(alice, sequencer):
    """A foreign `consent.withdrawn` about alice, integrated inline, is the trail's newest consent event
    until the checkpoint: consent fails closed meanwhile. The rewind drops it and moves her genuine
    events to new seqs; the ledger and the state row name events by id, so her grant authorises again."""
    from consent import purposes
    from consent import selectors as consent_selectors
    from consent.services import consent_give

    purpose = purposes.CAMERA_ROLL
    notice = consent_selectors.notice_current(purpose=purpose)
    given = consent_give(user=alice, purpose=purpose, notice_version=notice.version, method="api")
    if outbox.enabled():
        outbox.integrate_when_free()
    audit_checkpoint_create()
    _about(alice.pk, 2)
    with override_settings(AUDIT_MAC_KEY=FOREIGN_KEY, AUDIT_SEQUENCER="inline"):
        audit_append(action="consent.withdrawn", actor_kind="holder", actor_id=alice.pk, subject_id=alice.pk,
                     object_type="consent_entry", object_id=given.pk + 1, purpose=purpose)
    _about(alice.pk, 1)
    assert consent_selectors.consent_active_entry(user_id=alice.pk, purpose=purpose) is None  # fails closed

    audit_checkpoint_create()
    assert consent_selectors.consent_active_entry(user_id=alice.pk, purpose=purpose) == given
    call_command("audit_acknowledge", "--all", stdout=io.StringIO())
    audit_checkpoint_create()
    assert consent_selectors.consent_active_entry(user_id=alice.pk, purpose=purpose) == given
    report = audit_verify()
    assert report.ok, report.problems  # the ledger's binding to the trail included


def test_a_foreign_row_before_a_chained_event_is_never_signed_even_acknowledged(alice):
    """The one foreign row the rewind cannot take out (a chained event after it carries its seq): it
    is set aside where it sits, and no checkpoint is signed over it, acknowledged or not."""
    from core.errors import ServiceError

    _about(alice.pk, 2)
    audit_checkpoint_create()
    forged = _foreign_inline(alice.pk)
    legacy.append_chained(1)
    with pytest.raises(ServiceError, match=f"seq {forged.seq}"):
        audit_checkpoint_create()
    [set_aside] = AuditSetAside.objects.all()
    assert set_aside.seq == forged.seq
    assert not audit_verify().ok
    call_command("audit_acknowledge", "--all", stdout=io.StringIO())
    with pytest.raises(ServiceError, match=f"seq {forged.seq}"):
        audit_checkpoint_create()
    assert AuditCheckpoint.objects.order_by("-tree_size")[0].tree_size < forged.seq
    assert AuditSetAside.objects.count() == 1  # set aside once
