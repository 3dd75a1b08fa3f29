"""Witnesses (C2SP tlog-cosignature): tools/witness.py against the service, and what the service and
audit_verify do with cosignatures, tried as an operator who rolls the trail back would."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from audit import holder_logs, notes, triggers
from audit.keys import mac_key
from audit.merkle import CompactRange
from audit.models import AuditCosignature, AuditEvent
from audit.services import audit_checkpoint_create
from audit.verification import audit_verify
from core import signing
from tests.tools import load_tool

pytestmark = pytest.mark.django_db

TOOL = Path(__file__).resolve().parents[2] / "tools" / "witness.py"
NAME = "auditor.example/witness"


witness = load_tool("witness")


class ApiLog(witness.Log):
    """The witness's HTTP client, over Django's test client instead of the network."""

    def __init__(self, client):
        super().__init__("/api/v1/", None)
        self.client = client

    def request(self, method, path, body=None):
        response = self.client.generic(method, self.base + path, body or b"", content_type="application/json")
        return response.status_code, response.content


@pytest.fixture
def setup(tmp_path, settings, audrey, api, many_events):
    key_path = tmp_path / "witness.pem"
    settings.AUDIT_WITNESSES = [witness.init(str(key_path), NAME)]
    many_events(40)
    audit_checkpoint_create()
    log_vkey = notes.verifier_key(settings.AUDIT_CHECKPOINT_ORIGIN, signing.public_key("AUDIT_SIGNING_KEY"))
    state = tmp_path / "state.json"

    def run(**kwargs):
        return witness.witness_once(log=ApiLog(api(audrey)), log_vkey=log_vkey, key=witness.load_key(str(key_path)),
                                    name=NAME, state_path=str(state), say=lambda _: None, **kwargs)

    return run, state


def _roll_back_to(size: int):
    """What an operator with the database (and the signing key) does to hide events after `size`."""
    tree = CompactRange()
    hashes = list(AuditEvent.unchecked.filter(seq__lte=size).order_by("seq").values_list("hash", flat=True))
    for leaf in hashes:
        tree.append(bytes.fromhex(leaf))
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq > %s", [size])
        cursor.execute("DELETE FROM audit_auditcheckpoint WHERE tree_size > %s", [size])
        cursor.execute("DELETE FROM audit_audittile")
        cursor.execute("UPDATE audit_audithead SET size = %s, last_hash = %s, compact_range = %s",
                       [size, hashes[-1], tree.to_bytes()])
        # ... and the holder logs, rebuilt from what is left (audit_verify checks them against the trail).
        for table in ("audit_holderlogentry", "audit_holderlogtile", "audit_holdercheckpoint", "audit_holderlog"):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608
        holder_logs.backfill(cursor, mac_key())
    from audit.tiles import rebuild_tiles

    rebuild_tiles()


def test_it_cosigns_and_the_service_serves_and_checks_the_cosignature(setup, audrey, api, many_events):
    run, state = setup
    assert run()["tree_size"] == 40
    cosig = AuditCosignature.objects.get()
    assert (cosig.tree_size, cosig.witness) == (40, NAME)
    client = api(audrey)
    served = client.get("/api/v1/audit/tlog/checkpoint").content.decode()
    assert served.endswith(cosig.line + "\n")
    witnessed = client.get(reverse("api-audit-checkpoint-witnessed")).json()
    assert (witnessed["tree_size"], witnessed["witnesses"]) == (40, [NAME])
    report = audit_verify()
    assert report.ok and report.witnessed == 1, report.problem
    many_events(25)
    audit_checkpoint_create()
    assert run()["tree_size"] == 65  # consistency 40 -> 65 checked
    assert json.loads(state.read_text())["tree_size"] == 65
    assert audit_verify().witnessed == 2


def test_it_refuses_a_rolled_back_log_and_audit_verify_fails(setup, many_events):
    run, state = setup
    run()
    many_events(10)
    audit_checkpoint_create()
    run()  # the witness saw 50
    _roll_back_to(45)
    audit_checkpoint_create()  # the operator signs the shorter tree
    with pytest.raises(witness.Refused, match="rolled back"):
        run()
    assert json.loads(state.read_text())["tree_size"] == 50  # the state is kept
    report = audit_verify()
    assert not report.ok and "does not extend the witnessed checkpoint at 50" in report.problem


def test_a_rollback_that_also_deletes_the_cosignatures_is_caught_with_the_witness_state(setup, many_events):
    run, state = setup
    many_events(10)
    audit_checkpoint_create()
    run()
    _roll_back_to(45)
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditcosignature")
    assert audit_verify().ok  # the database alone can no longer tell...
    report = audit_verify(witnessed_notes=[json.loads(state.read_text())["note"]])
    assert not report.ok and "does not extend the witnessed checkpoint at 50" in report.problem  # ...the witness can
    with pytest.raises(CommandError, match="witnessed checkpoint at 50"):
        call_command("audit_verify", "--no-progress", "--witnessed-checkpoint", str(state))


def test_it_refuses_a_rewritten_tail_and_audit_verify_names_it(setup, many_events, settings):
    """Same size, other events: a fork. The operator rewrites 31.. with the MAC key and re-signs."""
    from audit.keys import event_mac

    run, state = setup
    run()  # saw 40
    prev = AuditEvent.objects.get(seq=30).hash
    tree = CompactRange()
    for leaf in AuditEvent.objects.filter(seq__lte=30).order_by("seq").values_list("hash", flat=True):
        tree.append(bytes.fromhex(leaf))
    for seq in range(31, 41):
        event = json.loads(bytes(AuditEvent.objects.get(seq=seq).canonical))
        event.update(outcome="error")  # an entry holds no link; the row's prev_hash column is the guard's
        body = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
        import hashlib

        leaf = hashlib.sha256(b"\x00" + body).digest()
        with triggers.suspended(), connection.cursor() as cursor:
            cursor.execute("UPDATE audit_auditevent SET canonical = %s, outcome = 'error', prev_hash = %s, hash = %s, "
                           "mac = %s WHERE seq = %s", [body, prev, leaf.hex(), event_mac(leaf), seq])
        tree.append(leaf)
        prev = leaf.hex()
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditcheckpoint WHERE tree_size > 30")
        cursor.execute("DELETE FROM audit_audittile")
        cursor.execute("UPDATE audit_audithead SET last_hash = %s, compact_range = %s", [prev, tree.to_bytes()])
    from audit.tiles import rebuild_tiles

    rebuild_tiles()
    audit_checkpoint_create()
    with pytest.raises(witness.Refused, match="forked"):
        run()
    report = audit_verify()
    assert not report.ok and report.first_bad_seq == 40 and "checkpoint at 40 does not match" in report.problem
    many_events(5)
    audit_checkpoint_create()
    with pytest.raises(witness.Refused, match="does not extend"):
        run()  # 40 -> 45 with a rewritten middle: the consistency proof fails


def test_the_service_refuses_cosignatures_it_cannot_check(setup, audrey, api, tmp_path):
    run, _ = setup
    client = api(audrey)
    note = client.get("/api/v1/audit/tlog/checkpoint").content.decode()
    body = notes.split_note(note)[0]
    stranger = witness.Ed25519PrivateKey.generate()
    url = reverse("api-audit-cosignature-add")
    # An unknown witness
    line = witness.cosign(body, stranger, "stranger.example/w", 1700000000)
    response = client.post(url, {"note": note + line + "\n"}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "audit_cosignature_invalid")
    # The configured witness's name with another key: the key id does not match, so it is not theirs
    line = witness.cosign(body, stranger, NAME, 1700000000)
    assert client.post(url, {"note": note + line + "\n"}, format="json").status_code == 400
    # A real cosignature over a checkpoint the service never signed
    key = witness.load_key(str(tmp_path / "witness.pem"))
    fake_body = body.replace("\n40\n", "\n41\n")
    line = witness.cosign(fake_body, key, NAME, 1700000000)
    response = client.post(url, {"note": fake_body + "\n" + note.split("\n\n", 1)[1] + line + "\n"}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "audit_checkpoint_unknown")
    # A signature by the witness's key over other bytes
    import base64

    prefix, blob = witness.cosign(body, key, NAME, 1700000000).rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[40] ^= 1  # one bit of the signature
    bad = f"{prefix} {base64.b64encode(bytes(raw)).decode()}"
    response = client.post(url, {"note": note + bad + "\n"}, format="json")
    assert response.status_code == 400
    assert not AuditCosignature.objects.exists()


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_only_auditors_post_cosignatures(setup, who, request, api):
    note = api(request.getfixturevalue("audrey")).get("/api/v1/audit/tlog/checkpoint").content.decode()
    url = reverse("api-audit-cosignature-add")
    assert api(request.getfixturevalue(who)).post(url, {"note": note}, format="json").status_code == 403
    assert api().post(url, {"note": note}, format="json").status_code == 401


def test_audit_verify_names_a_tampered_cosignature(setup):
    run, _ = setup
    run()
    cosig = AuditCosignature.objects.get()
    with triggers.suspended(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditcosignature SET root_hash = %s", ["0" * 64])
    report = audit_verify()
    assert not report.ok and f"cosignature by {NAME} at {cosig.tree_size}" in report.problem


def test_the_witness_runs_as_a_program(tmp_path):
    out = subprocess.run([sys.executable, str(TOOL), "init", "--key", str(tmp_path / "k.pem"), "--name", NAME],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert notes.cosigner_from_vkey(out).name == NAME
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    failed = subprocess.run([sys.executable, str(TOOL), "run", "--log", "http://127.0.0.1:9/api/v1/",
                             "--log-key", "x+00000000+AA==", "--key", str(tmp_path / "k.pem"), "--name", NAME,
                             "--state", str(tmp_path / "s.json")], capture_output=True, text=True)
    assert failed.returncode == 2 and "ERROR" in failed.stderr

