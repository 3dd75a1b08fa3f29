"""tools/monitor.py against the service itself (its /api/v1/audit/tlog/ through Django's test client, with an
auditor's token), with faults planted in the holder logs' integration step: an event left out of alice's
log, and one of bob's added to it. The heads the service then commits are found wrong."""

import pytest

from audit import holder_logs
from audit.holder_history import verifier_key
from audit.services import EventInput, audit_append_many, audit_checkpoint_if_due
from tests.audit.test_monitor import monitor

pytestmark = pytest.mark.django_db


class ServiceLog:
    """The global trail's tiles as the auditor's client reads them, over the test client."""

    def __init__(self, client):
        self.client = client

    def get(self, path: str) -> bytes:
        response = self.client.get("/api/v1/" + path)
        assert response.status_code == 200, (path, response.content[:300])
        return response.content


def _events(*subjects) -> list:
    return audit_append_many(events=[
        EventInput(action="media.read", actor_kind="service", actor_id="suggestions", subject_id=subject,
                   object_type="media_item", object_id=i, purpose="sharing_suggestions")
        for i, subject in enumerate(subjects)
    ])


@pytest.fixture
def run(api, audrey, tmp_path):
    log = monitor.Tlog(ServiceLog(api(audrey)).get)
    state = tmp_path / "monitor-state.json"

    def run_once():
        assert audit_checkpoint_if_due() is not None
        return monitor.monitor_once(log=log, log_vkey=verifier_key(), state_path=str(state), say=lambda _: None)

    return run_once


def _plant(monkeypatch, change):
    """Integration appends to the holder logs what `change` makes of the sequenced (seq, subject, leaf) rows."""
    real = holder_logs.integrate
    monkeypatch.setattr(holder_logs, "integrate",
                        lambda cursor, sequenced, key, *args, **kwargs: real(cursor, change(sequenced), key, *args,
                                                                             **kwargs))


def test_the_monitor_finds_nothing_wrong_with_the_services_holder_logs(run, alice, bob):
    _events(alice.pk, bob.pk, None, alice.pk)
    first = run()
    _events(*[alice.pk, bob.pk] * 200)
    second = run()
    assert first.mismatches == second.mismatches == []
    assert second.first == first.size and second.heads >= 2 and {alice.pk, bob.pk} <= second.holders


def test_the_monitor_finds_an_event_left_out_of_a_holders_log(run, alice, bob, monkeypatch):
    _events(alice.pk, bob.pk)
    assert run().mismatches == []

    def drop_alices_first(rows):
        firsts = [i for i, row in enumerate(rows) if row[1] == alice.pk][:1]
        return [row for i, row in enumerate(rows) if i not in firsts]

    _plant(monkeypatch, drop_alices_first)
    _events(alice.pk, bob.pk, alice.pk, bob.pk, alice.pk)
    report = run()
    assert len(report.new_mismatches) == 1
    assert f"about holder {alice.pk} was left out of it" in report.new_mismatches[0]


def test_the_monitor_finds_an_event_added_to_a_holders_log(run, alice, bob, monkeypatch):
    _events(alice.pk, bob.pk)
    assert run().mismatches == []
    # One of bob's events also goes into alice's log.
    _plant(monkeypatch, lambda rows: rows + [(seq, alice.pk, leaf) for seq, subject, leaf in rows[:1]
                                             if subject == bob.pk])
    _events(bob.pk, alice.pk)
    report = run()
    assert any(f"holder {alice.pk}'s log" in m and "added" in m for m in report.new_mismatches), \
        report.new_mismatches
