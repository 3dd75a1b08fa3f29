"""An upload racing a withdrawal (invariant 1), with real concurrent transactions on PostgreSQL.

Either the upload commits first and the withdrawal then shreds it, or the upload waits
for the withdrawal's lock and is refused. Nothing survives either way.
"""

import threading

from audit.models import AuditEvent
from consent import uow
from core.errors import ServiceError
from tests.threads import POSTGRES_THREADS, run, wait_for_lock_waiter
from tests.vault.conftest import grant, jpeg_bytes, withdraw
from vault import services
from vault.models import AccountKey, MediaItem

pytestmark = POSTGRES_THREADS


def blob_files(tmp_path):
    root = tmp_path / "blobs"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_it_refuses_an_upload_that_waits_behind_a_withdrawal(alice, tmp_path):
    grant(alice)
    inside, go_on, results = threading.Event(), threading.Event(), {}

    def hold(unit, ended):
        inside.set()
        go_on.wait(10)

    uow.handler_register(name="test-hold", order=0, on_consent_ended=hold)
    try:
        withdrawer = run(lambda: withdraw(alice), results, "withdraw")
        assert inside.wait(10)
        uploader = run(lambda: services.media_upload(user_id=alice.pk, data=jpeg_bytes()), results, "upload")
        wait_for_lock_waiter()
        go_on.set()
        withdrawer.join(10)
        uploader.join(10)
    finally:
        go_on.set()
        uow.handler_unregister(name="test-hold")
    assert not isinstance(results["withdraw"], BaseException)
    assert isinstance(results["upload"], ServiceError) and results["upload"].code == "consent_required"
    assert not MediaItem.objects.exists()
    assert blob_files(tmp_path) == []
    assert AuditEvent.objects.filter(action="media.upload_refused", details__code="consent_required").exists()


def test_it_shreds_an_upload_that_committed_just_before_a_withdrawal(alice, tmp_path, monkeypatch):
    grant(alice)
    inside, go_on, results = threading.Event(), threading.Event(), {}
    real_guard = services.consent_guard

    def slow_guard(**kwargs):
        entry = real_guard(**kwargs)
        if AccountKey.objects.filter(user_id=alice.pk).exists():  # the item's commit, not the key's creation
            inside.set()
            go_on.wait(10)
        return entry

    monkeypatch.setattr(services, "consent_guard", slow_guard)
    try:
        uploader = run(lambda: services.media_upload(user_id=alice.pk, data=jpeg_bytes()), results, "upload")
        assert inside.wait(10)  # the upload holds the account lock, its row not yet committed
        withdrawer = run(lambda: withdraw(alice), results, "withdraw")
        wait_for_lock_waiter()
        go_on.set()
        uploader.join(10)
        withdrawer.join(10)
    finally:
        go_on.set()
    assert not isinstance(results["upload"], BaseException), results["upload"]
    assert not isinstance(results["withdraw"], BaseException), results["withdraw"]
    uploaded = AuditEvent.objects.get(action="media.uploaded")
    erased = AuditEvent.objects.get(action="media.erased")
    assert uploaded.seq < erased.seq and erased.details["items"] == 1
    assert not MediaItem.objects.exists()
    assert blob_files(tmp_path) == []
