"""Exports, and the standalone verifier (tools/verify_audit_export.py) that checks them offline."""

import importlib.util
import io
import json
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pytest
from django.core.management import call_command

from audit import canonical
from audit.export import export_stream
from audit.models import AuditEvent
from audit.services import audit_checkpoint_create, audit_export_begin
from core import signing
from core.uow import Actor

pytestmark = pytest.mark.django_db

VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"
_spec = importlib.util.spec_from_file_location("verify_audit_export", VERIFIER)
verifier = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verifier)


def _export(fmt="jsonl", **filters) -> bytes:
    full = {"since": None, "until": None, "subject_id": None, "actor": None, "action": None, "outcome": None}
    full.update(filters)
    checkpoint = audit_export_begin(fmt=fmt, filters=full, actor=Actor.auditor(5))
    return b"".join(export_stream(fmt=fmt, checkpoint=checkpoint, filters=full))


def _key():
    return verifier.load_public_key(signing.public_key_pem("AUDIT_SIGNING_KEY").encode())


def _verify(data: bytes) -> dict:
    return verifier.verify(io.BytesIO(data), _key())


def test_it_exports_everything_as_verifiable_json_lines(many_events):
    many_events(20)
    data = _export()
    lines = [json.loads(line) for line in data.splitlines()]
    assert [line["type"] for line in lines] == ["header"] + ["event"] * 21 + ["end"]
    assert lines[0]["tree_size"] == 21
    event = lines[1]
    assert bytes(AuditEvent.objects.get(seq=1).canonical) in data  # the canonical bytes, verbatim
    assert event["hash"] == AuditEvent.objects.get(seq=1).hash
    assert lines[-2]["event"]["action"] == "audit.exported"  # the export covers its own event
    summary = _verify(data)
    assert (summary["events"], summary["tree_size"]) == (21, 21)


def test_it_proves_a_filtered_export_with_gap_subtrees(many_events):
    many_events(40)
    data = _export(outcome="denied", subject_id=3)
    lines = [json.loads(line) for line in data.splitlines()]
    events = [line["event"] for line in lines if line["type"] == "event"]
    assert events and all(e["outcome"] == "denied" and e["subject_id"] == 3 for e in events)
    assert any(line["type"] == "gap" for line in lines)
    assert _verify(data)["events"] == len(events)
    assert lines[0]["filters"] == {"outcome": "denied", "subject_id": 3}


def test_it_exports_an_empty_selection_as_one_gap(many_events):
    many_events(9)
    data = _export(action="nothing.matches")
    lines = [json.loads(line) for line in data.splitlines()]
    assert [line["type"] for line in lines] == ["header", "gap", "end"]
    assert _verify(data)["events"] == 0


def test_it_fails_the_verifier_for_every_changed_byte(many_events):
    many_events(5)
    data = _export(outcome="allowed")  # events and gaps, header, end
    assert _verify(data)
    key = _key()
    for position in range(len(data)):
        changed = bytearray(data)
        changed[position] = data[position] ^ (0x01 if data[position] != 0x0A else 0x20)
        with pytest.raises(verifier.Invalid):
            verifier.verify(io.BytesIO(bytes(changed)), key)
            pytest.fail(f"byte {position} ({chr(data[position])!r}) changed and the export still verified")


def test_it_fails_the_verifier_for_removed_added_or_swapped_lines(many_events):
    many_events(6)
    lines = _export().splitlines(keepends=True)
    cases = {
        "removed event": lines[:3] + lines[4:],
        "removed end": lines[:-1],
        "duplicated event": lines[:3] + [lines[2]] + lines[3:],
        "swapped events": lines[:2] + [lines[3], lines[2]] + lines[4:],
        "truncated": lines[:-1] + [lines[-1][:-1]],
        "no header": lines[1:],
    }
    for name, bad in cases.items():
        with pytest.raises(verifier.Invalid):
            _verify(b"".join(bad))
            pytest.fail(name)


def test_it_fails_the_verifier_with_another_key(many_events):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    many_events(3)
    data = _export()
    with pytest.raises(verifier.Invalid, match="signature"):
        verifier.verify(io.BytesIO(data), Ed25519PrivateKey.generate().public_key())


def test_it_runs_the_verifier_as_a_program_without_django(many_events, tmp_path):
    many_events(4)
    export = tmp_path / "audit.jsonl"
    export.write_bytes(_export())
    key = tmp_path / "key.pem"
    key.write_text(signing.public_key_pem("AUDIT_SIGNING_KEY"))
    # Django made unimportable: the verifier must not need it.
    code = ("import sys, runpy; sys.modules['django'] = None; sys.argv.pop(0); "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    ok = subprocess.run([sys.executable, "-I", "-c", code, str(VERIFIER), str(export), "--public-key", str(key)],
                        capture_output=True, text=True, check=False, env={"DJANGO_SETTINGS_MODULE": ""})
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK: 5 events verified")
    export.write_bytes(export.read_bytes().replace(b'"outcome":"denied"', b'"outcome":"allowed"', 1))
    bad = subprocess.run([sys.executable, str(VERIFIER), str(export), "--public-key", str(key)],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("FAILED:")


def test_it_exports_csv_with_filters(many_events):
    many_events(9)
    text = _export(fmt="csv", action="media.read").decode()
    rows = text.strip().split("\n")
    assert len(rows) == 1 + 3
    assert all(",media.read," in row for row in rows[1:])
    assert rows[1].split(",")[1].endswith("Z")


def test_it_exports_from_the_command_line(many_events, tmp_path, capsys):
    many_events(5)
    out = tmp_path / "export.jsonl"
    call_command("audit_export", "--output", str(out), "--no-progress")
    assert _verify(out.read_bytes())["events"] == 6
    event = AuditEvent.objects.get(action="audit.exported")
    assert (event.actor_kind, event.actor_id, event.details["format"]) == ("system", "cli", "jsonl")
    call_command("audit_export", "--format", "csv", "--since", "2000-01-01", "--outcome", "denied")
    assert capsys.readouterr().out.startswith("seq,time,")


def test_csv_rows_cut_from_the_canonical_bytes_equal_the_parsed_rows(many_events):
    """The CSV row is cut from the canonical bytes where they are laid out as appends write them;
    it must be exactly what parsing them and writing with the csv module gives."""
    from audit.export import _csv_line, _csv_line_parsed
    from audit.services import EventInput, audit_append_many

    audit_append_many(events=[
        EventInput(action="media.read", actor_kind="service"),  # no subject, no details
        EventInput(action="consent.given", actor_kind="holder", actor_id=7, subject_id=7, details={}),
        EventInput(action="support.erase", actor_kind="support", actor_id="3", subject_id=12, object_type="case",
                   object_id="c-1", purpose="erasure", outcome="denied", request_id="req:1/2+3",
                   details={"counts": {"items": 2, "outputs": 0}, "ids": [1, 2, "a.b"], "done": True, "none": None}),
    ])
    many_events(5)
    rows = list(AuditEvent.objects.order_by("seq").values_list("seq", "canonical", "hash"))
    assert len(rows) == 8
    for seq, body, leaf_hex in rows:
        assert _csv_line(seq, bytes(body), leaf_hex) == _csv_line_parsed(seq, bytes(body), leaf_hex)
    lines = _export(fmt="csv").decode().splitlines()
    assert lines[0] == "seq,time,actor_kind,actor_id,action,subject_id,object_type,object_id,purpose,outcome," \
                       "request_id,details,event_id,prev_hash,hash"
    assert lines[1:-1] == [_csv_line(q, bytes(b), h).decode().rstrip("\n") for q, b, h in rows]
    assert lines[1].startswith("1,") and lines[1].split(",")[-2] == ""  # an entry's seq is its row's; no link
    assert ",audit.exported," in lines[-1]  # the export's own event, covered by its checkpoint


def test_a_chunk_of_csv_rows_is_what_each_row_written_alone_gives(many_events):
    """_csv_chunk cuts a whole chunk at once; it must write exactly _csv_line's rows, for both formats,
    every kind of details and subject, and a chunk holding a row of another layout."""
    from audit.export import _csv_chunk, _csv_line
    from audit.services import EventInput, audit_append_many
    from tests.audit import legacy

    legacy.append_chained(3)
    audit_append_many(events=[
        EventInput(action="media.read", actor_kind="service"),  # no subject, no details
        EventInput(action="media.read", actor_kind="service", details={"count": 1}),  # no subject
        EventInput(action="consent.given", actor_kind="holder", actor_id=7, subject_id=7, details={}),
        EventInput(action="support.erase", actor_kind="support", actor_id="3", subject_id=12, object_type="case",
                   object_id="c-1", purpose="erasure", outcome="denied", request_id="req:1/2+3",
                   details={"counts": {"items": 2, "outputs": 0}, "ids": [1, 2, "a.b"], "done": True, "none": None}),
    ])
    many_events(4)
    rows = [(seq, bytes(body), leaf_hex)
            for seq, body, leaf_hex in AuditEvent.objects.order_by("seq").values_list("seq", "canonical", "hash")]
    assert len(rows) == 11

    def alone(chunk):
        return b"".join(_csv_line(seq, body, leaf_hex) for seq, body, leaf_hex in chunk)

    for chunk in (rows, rows[:3], rows[3:], rows[4:5], rows[5:6], rows[6:7]):
        assert _csv_chunk(chunk) == alone(chunk)
    other = (99, b'{"v":2,"seq":99,"time":"t","action":"a.b","actor_id":"1","actor_kind":"holder","details":{},'
                 b'"event_id":"e","object_id":"","object_type":"","outcome":"allowed","prev_hash":"p","purpose":"",'
                 b'"request_id":"","subject_id":3}', "ab")
    assert _csv_chunk([*rows, other]) == alone([*rows, other])


@pytest.mark.parametrize("body", [
    # Not the layout appends write: the parsed way, with the csv module's quoting.
    b'{"action":"a.b","actor_id":"x,y","actor_kind":"holder","details":{},"event_id":"e","object_id":"",'
    b'"object_type":"","outcome":"allowed","prev_hash":"p","purpose":"","request_id":"","seq":1,"subject_id":null,'
    b'"time":"t","v":2}',
    b'{"v":2,"seq":1,"time":"t","action":"a.b","actor_id":"1","actor_kind":"holder","details":{"k":"\\"q\\""},'
    b'"event_id":"e","object_id":"","object_type":"","outcome":"allowed","prev_hash":"p","purpose":"",'
    b'"request_id":"","subject_id":3}',
])
def test_csv_rows_of_other_layouts_are_written_the_general_way(body):
    from audit.export import _csv_layout, _csv_line, _csv_line_parsed

    assert _csv_layout(entry=False).match(body) is None
    assert _csv_line(1, body, "ab") == _csv_line_parsed(1, body, "ab")
    assert b'"x,y"' in _csv_line(1, body, "ab") or b'"{""k"":""\\""q\\""""}"' in _csv_line(1, body, "ab")


def test_the_verifier_still_checks_an_export_written_before_entries():
    """Format /1 (before entries): every event held its own seq and none was on the line."""
    from tests.audit import legacy

    legacy.append_chained(12)
    checkpoint = audit_checkpoint_create()
    data = b"".join(export_stream(fmt="jsonl", checkpoint=checkpoint, filters={}))
    lines = [json.loads(line) for line in data.splitlines()]
    lines[0]["format"] = "consentsvc-audit-export/1"
    for line in lines[1:-1]:
        del line["seq"]
    old = b"".join(canonical.dumps(line) + b"\n" for line in lines)
    assert _verify(old)["events"] == 12
    lines[3]["event"]["seq"] = 5  # a chained event that says another place than its own
    with pytest.raises(verifier.Invalid):
        _verify(b"".join(canonical.dumps(line) + b"\n" for line in lines))


def test_the_command_lines_bare_until_date_includes_that_whole_day(many_events, capsys):
    """--until 2026-11-01 is inclusive, as its help and the API say; it once read as that day's midnight."""
    many_events(3)
    day = AuditEvent.objects.order_by("seq").first().time.astimezone(UTC).date().isoformat()
    call_command("audit_export", "--format", "csv", "--since", day, "--until", day, "--no-progress")
    assert len(capsys.readouterr().out.strip().split("\n")) >= 1 + 3
