"""Withdrawal never fails (invariant 4): every account write against a withdrawal, on PostgreSQL.

For each write and each order, one side is stopped while it holds the account lock
(its rows written, its audit events not yet appended) and the other side is started
and seen waiting for a lock; then both run to their end. Neither may deadlock, hang or
fail with anything but a clean refusal, and the withdrawal always wins: afterwards the
feature is off and no photo, output or media key of the holder is left.
"""

import threading
import time
from datetime import date

import pytest
from django.db import connection

from accounts.roles import SUPPORT
from audit.verification import audit_verify
from consent import purposes
from consent.models import ConsentEntry
from consent.selectors import consent_active_entry
from core import uow
from core.errors import ServiceError
from core.uow import Actor
from support import rights
from support import services as support_services
from support.models import DataExport
from tests.conftest import make_user
from tests.support.conftest import open_case
from tests.threads import (
    POSTGRES_THREADS,
    drain_sequencer,
    run,
    sequencer,
    someone_waits_for_a_lock,
    wait_for_lock_waiter,
)
from tests.vault.conftest import grant, jpeg_bytes, withdraw
from vault import gateway
from vault import services as vault_services
from vault.models import AccountKey, DerivedOutput, MediaItem

pytestmark = POSTGRES_THREADS
_ = sequencer  # every test here runs with the audit sequencer inline and as production runs it


@pytest.fixture(autouse=True)
def _both_sequencers(sequencer):
    return sequencer


@pytest.fixture
def library(alice, settings):
    """alice: the feature on, three photos, a collage made of two of them; a support agent with a case."""
    settings.WITHDRAWAL_GRACE_DAYS = 0
    grant(alice)
    ids = [vault_services.media_upload(user_id=alice.pk, data=jpeg_bytes(color=(60 * n, 80, 90))).item.pk
           for n in range(3)]
    gateway.output_store(user_id=alice.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="collage",
                         source_ids=ids[:2], data=b"collage", content_type="image/jpeg")
    agent = make_user("sam_race", SUPPORT)
    open_case(agent, alice)
    return {"user": alice, "ids": ids, "agent": agent}


def _export(alice):
    export = rights.export_request(user=alice)
    return rights.export_build(export_id=export.pk)


# Each write: (what it does, the audit action its own unit appends).
WRITES = {
    "upload": (lambda lib: vault_services.media_upload(user_id=lib["user"].pk, data=jpeg_bytes(color=(1, 2, 3))),
               "media.uploaded"),
    "delete": (lambda lib: vault_services.media_delete(user_id=lib["user"].pk, item_id=lib["ids"][0]),
               "media.deleted"),
    "exclude": (lambda lib: vault_services.media_set_excluded(user_id=lib["user"].pk, item_id=lib["ids"][0],
                                                              excluded=True), "media.excluded"),
    "exclusion_create": (lambda lib: vault_services.exclusion_create_date_range(
        user_id=lib["user"].pk, start=date(2020, 1, 1), end=date(2030, 1, 1)), "exclusion.created"),
    "erase": (lambda lib: rights.cloud_media_erase(user=lib["user"]), "media.erased"),
    "output_store": (lambda lib: gateway.output_store(
        user_id=lib["user"].pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="stylized", source_ids=lib["ids"][2:],
        data=b"stylized", content_type="image/jpeg"), "output.stored"),
    "support_revoke": (lambda lib: support_services.support_revoke(
        actor=Actor.support(lib["agent"].pk), user_id=lib["user"].pk, purpose=purposes.CAMERA_ROLL,
        reason="asked by phone"),
        "support.revoke"),
    "export_build": (lambda lib: _export(lib["user"]), "export.ready"),
}
# What a write may end with when it loses to the withdrawal: a clean, coded refusal.
CLEAN_REFUSALS = {"consent_required", "not_found"}


def _pause_units(monkeypatch, *, action: str, thread_name: str, inside: threading.Event, go_on: threading.Event):
    """Stop the unit of work of `thread_name` that is about to append `action`, holding its locks."""
    real_finish = uow.UnitOfWork._finish

    def finish(unit):
        if threading.current_thread().name == thread_name and any(e.action == action for e in unit.events):
            inside.set()
            go_on.wait(20)
        return real_finish(unit)

    monkeypatch.setattr(uow.UnitOfWork, "_finish", finish)


def _named(name: str, target, results: dict) -> threading.Thread:
    def body():
        threading.current_thread().name = name
        return target()

    return run(body, results, name)


def _outcome_is_clean(value) -> bool:
    if isinstance(value, ServiceError):
        return value.code in CLEAN_REFUSALS
    return not isinstance(value, BaseException)


def _withdrawal_won(alice) -> None:
    drain_sequencer()
    report = audit_verify()
    assert report.ok, report.problems
    assert consent_active_entry(user_id=alice.pk, purpose=purposes.CAMERA_ROLL) is None
    assert ConsentEntry.objects.filter(subject=alice, event__in=["withdrawn", "revoked_by_support"]).exists()
    assert not MediaItem.objects.filter(owner=alice).exists()
    assert not DerivedOutput.objects.filter(owner=alice).exists()
    # No media key outlives the withdrawal, but one an export was sealed under afterwards (the
    # holder's copy of their ledger), which then holds no photo.
    for key in AccountKey.objects.filter(user=alice, scope="media"):
        assert DataExport.objects.filter(holder=alice).exists(), key


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_holding_the_lock_is_followed_by_the_withdrawal(library, write, monkeypatch):
    alice = library["user"]
    operation, action = WRITES[write]
    inside, go_on, results = threading.Event(), threading.Event(), {}
    _pause_units(monkeypatch, action=action, thread_name="write", inside=inside, go_on=go_on)
    try:
        writer = _named("write", lambda: operation(library), results)
        assert inside.wait(20), results.get("write")
        withdrawer = _named("withdraw", lambda: withdraw(alice), results)
        wait_for_lock_waiter()
    finally:
        go_on.set()
    writer.join(30)
    withdrawer.join(30)
    assert not writer.is_alive() and not withdrawer.is_alive(), "a side never finished"
    assert _outcome_is_clean(results["write"]), results["write"]
    assert not isinstance(results["withdraw"], BaseException), results["withdraw"]
    _withdrawal_won(alice)


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_waiting_behind_the_withdrawal_is_refused_or_harmless(library, write):
    alice = library["user"]
    operation, _ = WRITES[write]
    inside, go_on, results = threading.Event(), threading.Event(), {}

    def hold(unit, ended):
        inside.set()
        go_on.wait(20)

    uow.subscribe(name="test-hold-withdrawal", message=uow.ConsentEnded, phase=uow.Phase.IN_UNIT, handler=hold,
                  before=("vault", "suggestions"))
    try:
        withdrawer = _named("withdraw", lambda: withdraw(alice), results)
        assert inside.wait(20), results.get("withdraw")
        writer = _named("write", lambda: operation(library), results)
        wait_for_lock_waiter()
    finally:
        go_on.set()
        uow.unsubscribe(name="test-hold-withdrawal")
    withdrawer.join(30)
    writer.join(30)
    assert not writer.is_alive() and not withdrawer.is_alive(), "a side never finished"
    assert not isinstance(results["withdraw"], BaseException), results["withdraw"]
    assert _outcome_is_clean(results["write"]), results["write"]
    _withdrawal_won(alice)


def test_an_upload_that_loses_to_a_withdrawal_leaves_no_key_behind(alice, settings, tmp_path):
    """The account's first upload waits for the key behind a withdrawal: no key row, no folder."""
    settings.WITHDRAWAL_GRACE_DAYS = 0
    grant(alice)
    inside, go_on, results = threading.Event(), threading.Event(), {}

    def hold(unit, ended):
        inside.set()
        go_on.wait(20)

    uow.subscribe(name="test-hold-first-upload", message=uow.ConsentEnded, phase=uow.Phase.IN_UNIT, handler=hold,
                  before=("vault", "suggestions"))
    try:
        withdrawer = _named("withdraw", lambda: withdraw(alice), results)
        assert inside.wait(20)
        uploader = _named("write", lambda: vault_services.media_upload(user_id=alice.pk, data=jpeg_bytes()), results)
        wait_for_lock_waiter()
    finally:
        go_on.set()
        uow.unsubscribe(name="test-hold-first-upload")
    withdrawer.join(30)
    uploader.join(30)
    assert isinstance(results["write"], ServiceError) and results["write"].code == "consent_required"
    assert not AccountKey.objects.filter(user=alice).exists()
    blobs = tmp_path / "blobs"
    assert not blobs.exists() or not [p for p in blobs.rglob("*") if p.is_file()]


def test_a_suggestions_request_racing_a_withdrawal_leaves_no_queued_job(alice, settings, monkeypatch):
    """The request has found consent on when the withdrawal starts: the withdrawal waits for the
    request's lock and then drops its job, or (had the check been made before any lock) ends
    first and the job is queued after it. Either way round, no queued pass may be left."""
    from suggestions import jobs as suggestion_jobs
    from suggestions.models import SuggestionJob

    settings.WITHDRAWAL_GRACE_DAYS = 0
    grant(alice)
    inside, go_on, results = threading.Event(), threading.Event(), {}
    real_check = suggestion_jobs.consent_active_entry

    def checked_then_held(**kwargs):
        entry = real_check(**kwargs)
        if threading.current_thread().name == "write":
            inside.set()
            go_on.wait(20)
        return entry

    monkeypatch.setattr(suggestion_jobs, "consent_active_entry", checked_then_held)
    monkeypatch.setattr(suggestion_jobs, "dispatch", lambda *args, **kwargs: None)  # the pass itself is not raced
    try:
        requester = _named("write", lambda: suggestion_jobs.suggestion_job_request(user_id=alice.pk), results)
        assert inside.wait(20), results.get("write")
        withdrawer = _named("withdraw", lambda: withdraw(alice), results)
        # The withdrawal either waits for the request's lock or (no lock taken) is done meanwhile.
        with connection.cursor() as cursor:
            for _ in range(500):
                if someone_waits_for_a_lock(cursor) or not withdrawer.is_alive():
                    break
                time.sleep(0.02)
    finally:
        go_on.set()
    requester.join(30)
    withdrawer.join(30)
    assert not requester.is_alive() and not withdrawer.is_alive(), "a side never finished"
    assert not isinstance(results["withdraw"], BaseException), results["withdraw"]
    assert _outcome_is_clean(results["write"]), results["write"]
    assert not SuggestionJob.objects.filter(owner=alice, status=SuggestionJob.Status.QUEUED).exists()
    _withdrawal_won(alice)
