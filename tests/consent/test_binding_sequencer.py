"""The consent read path against the audit sequencer as production runs it on PostgreSQL: the state row
(with the trail's newest consent event) and the event itself are read in two statements, and the
sequencer may integrate a consent just given between them."""

import pytest
from django.db import connection

from audit import outbox
from audit import selectors as audit_selectors
from consent import purposes
from consent.selectors import consent_active_entry
from tests.vault.conftest import grant

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the queue and its sequencer are PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


def test_a_consent_integrated_between_the_state_read_and_the_event_read_still_counts(alice, settings, monkeypatch):
    settings.AUDIT_SEQUENCER = "outbox"
    settings.AUDIT_SEQUENCER_THREAD = False
    monkeypatch.setattr(outbox, "_after_commit", lambda: None)  # the grant stays pending after its commit
    grant(alice)
    read = audit_selectors.audit_events_by_ids

    def sequencer_commits_first(**kwargs):
        outbox.integrate_when_free()
        return read(**kwargs)

    monkeypatch.setattr(audit_selectors, "audit_events_by_ids", sequencer_commits_first)
    assert consent_active_entry(user_id=alice.pk, purpose=purposes.CAMERA_ROLL) is not None
