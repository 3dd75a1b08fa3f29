"""core.uow: the one write path, its channel between apps and the promises its callers rely on."""

import pytest
from django.db import transaction

from audit.models import AuditEvent
from consent import purposes
from core import uow
from core.uow import Actor, account_write, events_write
from vault import gateway


class Boom(Exception):
    pass


def test_it_refuses_to_open_inside_a_foreign_transaction(alice):
    """An outer atomic() would hold its locks (the audit head's among them) before the account lock."""
    with (transaction.atomic(), pytest.raises(RuntimeError, match="own transaction"),
          account_write(user_id=alice.pk, actor=Actor.holder(alice.pk))):
        pass


def test_it_joins_its_own_unit_when_nested(alice):
    with (account_write(user_id=alice.pk, actor=Actor.holder(alice.pk)) as outer,
          account_write(user_id=alice.pk, actor=Actor.holder(alice.pk)) as inner):
        assert inner is outer


def test_a_denial_inside_a_unit_that_rolls_back_stays_recorded(alice):
    """The gateway records a refusal 'in its own transaction': a caller's unit rolling back with the
    refusal it raised must not take the record with it."""
    with (pytest.raises(gateway.GatewayDenied),
          account_write(user_id=alice.pk, actor=Actor.holder(alice.pk)) as unit):
        unit.record(unit.event(action="media.deleted", object_type="media", object_id=1))
        gateway.release(user_id=alice.pk, purpose=purposes.ADVERTISING, item_ids=[1])
    media = AuditEvent.objects.filter(subject_id=alice.pk, action__startswith="media.")
    recorded = {(e.action, e.outcome) for e in media}
    assert recorded == {("media.read", "denied")}, "the denial stays; the unit's own event rolls back"


def test_a_denial_inside_a_savepoint_that_rolls_back_stays_recorded(alice):
    with (account_write(user_id=alice.pk, actor=Actor.holder(alice.pk)) as unit,
          pytest.raises(Boom), unit.savepoint()):
        with events_write(actor=Actor.service("gateway"), durable=True) as denial:
            denial.record(denial.event(action="media.read", object_type="media", outcome="denied"))
        unit.record(unit.event(action="media.deleted", object_type="media", object_id=1))
        raise Boom
    media = AuditEvent.objects.filter(subject_id=alice.pk, action__startswith="media.")
    recorded = [(e.action, e.outcome) for e in media]
    assert recorded == [("media.read", "denied")]


def test_its_channel_runs_in_unit_subscribers_in_the_unit_and_after_commit_ones_after(alice):
    class Happened:
        pass

    seen = []

    def in_unit(unit, message):
        seen.append(("in unit", transaction.get_connection().in_atomic_block, uow.current() is unit))

    def after(message):
        seen.append(("after commit", uow.current() is None))

    uow.subscribe(name="test-in-unit", message=Happened, phase=uow.Phase.IN_UNIT, handler=in_unit)
    uow.subscribe(name="test-after", message=Happened, phase=uow.Phase.AFTER_COMMIT, handler=after)
    try:
        with account_write(user_id=alice.pk, actor=Actor.holder(alice.pk)) as unit:
            unit.publish(Happened())
            assert seen == [], "subscribers run once the service's own writes are done"
    finally:
        uow.unsubscribe(name="test-in-unit")
        uow.unsubscribe(name="test-after")
    assert seen == [("in unit", True, True)], "after-commit subscribers wait for a real commit (see below)"


def test_a_subscriber_runs_before_those_it_names(alice):
    class Happened:
        pass

    order = []
    uow.subscribe(name="a", message=Happened, phase=uow.Phase.IN_UNIT, handler=lambda u, m: order.append("a"))
    uow.subscribe(name="b", message=Happened, phase=uow.Phase.IN_UNIT, handler=lambda u, m: order.append("b"),
                  before=("a",))
    try:
        assert uow.subscriber_names(message=Happened) == ["b", "a"]
        with account_write(user_id=alice.pk, actor=Actor.holder(alice.pk)) as unit:
            unit.publish(Happened())
    finally:
        uow.unsubscribe(name="a")
        uow.unsubscribe(name="b")
    assert order == ["b", "a"]


@pytest.mark.django_db(transaction=True)
def test_after_commit_subscribers_hear_only_what_committed(django_user_model):
    class Happened:
        pass

    heard = []
    user = django_user_model.objects.create_user(username="carol", password="x" * 20)
    uow.subscribe(name="test-after", message=Happened, phase=uow.Phase.AFTER_COMMIT,
                  handler=lambda message: heard.append((message, uow.current())))
    try:
        kept = Happened()
        with account_write(user_id=user.pk, actor=Actor.holder(user.pk)) as unit:
            unit.publish(kept)
        with pytest.raises(Boom), account_write(user_id=user.pk, actor=Actor.holder(user.pk)) as unit:
            unit.publish(Happened())
            raise Boom
    finally:
        uow.unsubscribe(name="test-after")
    assert heard == [(kept, None)], "after commit, the unit is closed: a handler's writes open their own"


def test_a_denial_inside_an_events_write_that_rolls_back_stays_recorded(alice):
    """A refusal recorded while a holder's read (events_write, no account lock) is open: the read's
    own events roll back with it, the denial is kept."""
    with pytest.raises(Boom), events_write(actor=Actor.holder(alice.pk), user_id=alice.pk) as read:
        read.record(read.event(action="media.listed", object_type="media"))
        with events_write(actor=Actor.service("gateway"), user_id=alice.pk, durable=True) as denial:
            denial.record(denial.event(action="media.read", object_type="media", outcome="denied"))
        raise Boom
    recorded = [(e.action, e.outcome) for e in AuditEvent.objects.filter(subject_id=alice.pk)]
    assert recorded == [("media.read", "denied")]


def test_the_gateways_denial_inside_an_events_write_that_rolls_back_stays_recorded(alice):
    with pytest.raises(gateway.GatewayDenied), events_write(actor=Actor.holder(alice.pk), user_id=alice.pk):
        gateway.release(user_id=alice.pk, purpose=purposes.ADVERTISING, item_ids=[1])
    recorded = {(e.action, e.outcome) for e in AuditEvent.objects.filter(subject_id=alice.pk)}
    assert recorded == {("media.read", "denied")}


def test_a_denial_refuses_to_hide_inside_a_foreign_transaction(alice):
    """Outside any unit, an atomic() around the denial would take it along when it rolls back."""
    with (pytest.raises(RuntimeError, match="transaction of its own"), transaction.atomic(),
          events_write(actor=Actor.service("gateway"), user_id=alice.pk, durable=True)):
        pass
    assert not AuditEvent.objects.filter(subject_id=alice.pk).exists()
