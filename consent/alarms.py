"""An alarm on the trail when a consent state the service was about to act on is not backed by it.

A state row that says 'given' but does not name the trail's newest genuine consent event for
the holder and purpose (pointed back at an older grant, left behind by a withdrawal deleted from
the ledger, or moved onto a ledger row the service never wrote) grants nothing; the refusal is
recorded here, and audit_verify names the row until it is put right.
"""

from consent import uow
from consent.models import ConsentState

ACTION = "consent.state_unverified"


def consent_state_unverified(*, user_id: int, purpose: str, state: ConsentState) -> None:
    """Append the alarm: with the current unit of work, kept even if the unit rolls back (the
    refusal does), or in a transaction of its own."""
    system = uow.Actor.system()
    fields = dict(action=ACTION, actor=system, subject_id=user_id, object_type="consent_state",
                  object_id=state.pk or "", purpose=purpose, outcome="denied",
                  details={"entry_id": state.entry_id, "event_id": str(state.event_id) if state.event_id else None})
    unit = uow.current()
    if unit is not None:
        unit.alarm(unit.event(**fields))
        return
    with uow.events_write(actor=system, user_id=user_id) as writer:
        writer.record(writer.event(**fields))
