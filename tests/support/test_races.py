"""Support cases under real concurrency (PostgreSQL row locks between threads)."""

import threading

from django.utils import timezone

from consent import purposes
from consent.selectors import consent_active_entry
from core.errors import ServiceError
from core.uow import Actor
from support import services
from support.models import SupportCase
from tests.conftest import unit_of
from tests.support.conftest import grant, open_case
from tests.threads import POSTGRES_THREADS, run, wait_for_lock_waiter

pytestmark = POSTGRES_THREADS


def test_it_opens_one_case_when_two_requests_race(sam, alice):
    results = {}
    barrier = threading.Barrier(2)

    def opener():
        barrier.wait()
        return services.case_open(actor=Actor.support(sam.pk), user_id=alice.pk, reason="race", ticket="1")

    threads = [run(opener, results, key) for key in ("a", "b")]
    for thread in threads:
        thread.join(20)
    outcomes = sorted(type(value).__name__ for value in results.values())
    assert outcomes == ["ServiceError", "SupportCase"], results
    refused = next(value for value in results.values() if isinstance(value, ServiceError))
    assert refused.code == "case_already_open"
    assert SupportCase.objects.filter(closed_at__isnull=True).count() == 1


def test_it_refuses_a_revoke_that_waited_behind_the_cases_close(sam, alice):
    grant(alice)
    case = open_case(sam, alice)
    results = {}
    with unit_of(alice):  # a close in progress holds the holder's lock and the case row, as support's close does
        SupportCase.objects.select_for_update().get(pk=case.pk)
        thread = run(lambda: services.support_revoke(actor=Actor.support(sam.pk), user_id=alice.pk,
                                                     purpose=purposes.CAMERA_ROLL, reason="late"), results, "revoke")
        wait_for_lock_waiter()
        SupportCase.objects.filter(pk=case.pk).update(closed_at=timezone.now(), closed_how="closed")
    thread.join(20)
    assert isinstance(results["revoke"], ServiceError) and results["revoke"].code == "not_found"
    assert consent_active_entry(user_id=alice.pk, purpose=purposes.CAMERA_ROLL) is not None
