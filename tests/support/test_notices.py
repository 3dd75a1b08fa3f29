"""Support console search, the revoke confirmation, notices to the holder (page and email), and case notes."""

import pytest
from django.core import mail
from django.test import Client

from audit.models import AuditEvent
from consent import purposes
from consent.selectors import consent_active_entry
from support.models import SupportCaseNote, SupportNotice
from tests.conftest import make_user
from tests.support.conftest import grant, open_case

pytestmark = pytest.mark.django_db

CAMERA = purposes.CAMERA_ROLL


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _accounts(response) -> list[str]:
    return [account.username for account, _case, _form in response.context["results"]]


# --- search ---------------------------------------------------------------------------------------


def test_it_finds_holders_by_username_prefix_email_or_id(sam, alice, bob):
    make_user("alicia")
    bob.email = "Bob@Example.org"
    bob.save(update_fields=["email"])
    client = client_for(sam)
    assert sorted(_accounts(client.get("/support/", {"q": "ali"}))) == ["alice", "alicia"]
    assert _accounts(client.get("/support/", {"q": "bob@example.ORG"})) == ["bob"]
    assert _accounts(client.get("/support/", {"q": str(alice.pk)})) == ["alice"]
    assert _accounts(client.get("/support/", {"q": "zzz"})) == []


def test_it_never_lists_staff_accounts(sam, audrey, alice):
    make_user("audrey2", "auditor")
    assert _accounts(client_for(sam).get("/support/", {"q": "aud"})) == []
    assert _accounts(client_for(sam).get("/support/", {"q": "sa"})) == []


# --- revoke: no default purpose, a confirmation in words -------------------------------------------


def test_it_offers_no_default_purpose(sam, alice):
    import re

    open_case(sam, alice)
    html = client_for(sam).get(f"/support/subjects/{alice.pk}/").content.decode()
    select = re.search(r'<select name="purpose"[^>]*>.*?</select>', html, re.S).group(0)
    assert " required" in select.split(">")[0]
    options = re.findall(r"<option[^>]*>", select)
    assert options[0] == '<option value="" selected>'
    assert not any("selected" in option for option in options[1:])


def test_it_refuses_a_revoke_without_a_purpose(sam, alice):
    grant(alice)
    open_case(sam, alice)
    before = AuditEvent.objects.count()
    response = client_for(sam).post(f"/support/subjects/{alice.pk}/revoke/",
                                    {"purpose": "", "reason": "asked", "confirm": "yes"})
    assert response.status_code == 302
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is not None
    assert AuditEvent.objects.count() == before
    assert not SupportNotice.objects.exists()


def test_it_asks_to_confirm_naming_the_purpose_in_words(sam, alice):
    grant(alice)
    open_case(sam, alice)
    client = client_for(sam)
    asked = client.post(f"/support/subjects/{alice.pk}/revoke/", {"purpose": CAMERA, "reason": "asked by phone"})
    assert asked.status_code == 200
    html = asked.content.decode()
    assert "Turn off Camera Roll Sharing Suggestions for alice?" in html
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is not None  # nothing done yet
    done = client.post(f"/support/subjects/{alice.pk}/revoke/",
                       {"purpose": CAMERA, "reason": "asked by phone", "confirm": "yes"}, follow=True)
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is None
    assert "Camera Roll Sharing Suggestions is now off for alice" in done.content.decode()


# --- the holder is told ---------------------------------------------------------------------------


def _revoke(sam, alice, reason="Holder phoned: wants it off"):
    client_for(sam).post(f"/support/subjects/{alice.pk}/revoke/",
                         {"purpose": CAMERA, "reason": reason, "confirm": "yes"})


def test_it_shows_the_holder_a_notice_and_emails_it(sam, alice, django_capture_on_commit_callbacks):
    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    grant(alice)
    case = open_case(sam, alice)
    with django_capture_on_commit_callbacks(execute=True):
        _revoke(sam, alice)
    expected = "Support agent sam turned off Camera Roll Sharing Suggestions on "
    html = client_for(alice).get("/settings/camera-roll/").content.decode()
    assert expected in html and f"case #{case.pk} (ticket 4411)." in html
    assert "Reason: Holder phoned: wants it off" in html
    assert "To turn Camera Roll Sharing Suggestions on again, go to Settings, Camera roll" in html
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.org"]
    assert expected in message.body and "Holder phoned: wants it off" in message.body
    notice = SupportNotice.objects.get()
    assert notice.emailed_at is not None and notice.seen_at is not None


def test_it_keeps_the_reason_out_of_the_audit_trail(sam, alice, django_capture_on_commit_callbacks):
    grant(alice)
    case = open_case(sam, alice)
    client = client_for(sam)
    with django_capture_on_commit_callbacks(execute=True):
        _revoke(sam, alice, reason="secret-reason-words")
        client.post(f"/support/cases/{case.pk}/notes/", {"text": "secret-note-words"})
    assert SupportCaseNote.objects.get().text == "secret-note-words"
    for event in AuditEvent.objects.all():
        raw = bytes(event.canonical).decode()
        assert "secret-reason-words" not in raw and "secret-note-words" not in raw


def test_it_lets_the_holder_dismiss_a_notice_and_no_one_else(sam, alice, bob, audrey):
    grant(alice)
    open_case(sam, alice)
    _revoke(sam, alice)
    notice = SupportNotice.objects.get()
    assert client_for(bob).post(f"/me/notices/{notice.pk}/dismiss/").status_code == 404
    assert client_for(sam).post(f"/me/notices/{notice.pk}/dismiss/").status_code == 403
    assert client_for(audrey).post(f"/me/notices/{notice.pk}/dismiss/").status_code == 403
    assert client_for().post(f"/me/notices/{notice.pk}/dismiss/").status_code == 302
    assert client_for(alice).get(f"/me/notices/{notice.pk}/dismiss/").status_code == 405
    assert not AuditEvent.objects.filter(action="support.notice_dismissed").exists()
    done = client_for(alice).post(f"/me/notices/{notice.pk}/dismiss/")
    assert done.status_code == 302
    assert "Support agent sam" not in client_for(alice).get("/settings/camera-roll/").content.decode()
    # The dismissal is on the trail, by the holder, naming the case (ids only).
    dismissed = AuditEvent.objects.get(action="support.notice_dismissed")
    assert (dismissed.actor_kind, dismissed.actor_id, dismissed.subject_id, dismissed.object_id) == (
        "holder", str(alice.pk), alice.pk, str(notice.pk))
    assert dismissed.details["case_id"] == notice.action.case_id
    assert client_for(alice).post(f"/me/notices/{notice.pk}/dismiss/").status_code == 404  # once
    assert AuditEvent.objects.filter(action="support.notice_dismissed").count() == 1


def test_it_reads_notices_without_writing_and_marks_them_seen_when_shown(sam, alice):
    from support import notices

    grant(alice)
    open_case(sam, alice)
    _revoke(sam, alice)
    [(notice, _text)] = notices.notices_for_holder(user_id=alice.pk)
    assert SupportNotice.objects.get().seen_at is None  # a read writes nothing
    client_for(alice).get("/settings/camera-roll/")  # shown on the page: seen
    assert SupportNotice.objects.get().seen_at is not None


def test_it_tells_the_holder_about_an_erase(sam, alice, django_capture_on_commit_callbacks):
    open_case(sam, alice)
    client = client_for(sam)
    client.post(f"/support/subjects/{alice.pk}/erase/", {"reason": "asked to erase", "confirm": "alice"})
    html = client_for(alice).get("/settings/camera-roll/").content.decode()
    assert "Support agent sam erased your photos in the cloud and everything made from them on " in html
    assert "Nothing was held in the cloud, so nothing was destroyed." in html


def test_it_records_a_mail_failure_without_failing_the_action(sam, alice, settings, monkeypatch,
                                                               django_capture_on_commit_callbacks):
    from support import notices

    alice.email = "alice@example.org"
    alice.save(update_fields=["email"])
    grant(alice)
    open_case(sam, alice)

    def refused(**kwargs):
        raise ConnectionRefusedError

    monkeypatch.setattr(notices, "send_mail", refused)
    with django_capture_on_commit_callbacks(execute=True):
        _revoke(sam, alice)
    assert consent_active_entry(user_id=alice.pk, purpose=CAMERA) is None
    assert SupportNotice.objects.get().email_error == "ConnectionRefusedError"


# --- case notes -----------------------------------------------------------------------------------


def test_it_keeps_case_notes_on_the_case(sam, alice):
    case = open_case(sam, alice)
    client = client_for(sam)
    assert client.post(f"/support/cases/{case.pk}/notes/", {"text": "Called back at 14:00"}).status_code == 302
    html = client.get(f"/support/subjects/{alice.pk}/").content.decode()
    assert "Called back at 14:00" in html
    # The trail records that a note went on the case, by whom and about whom, never its text.
    added = AuditEvent.objects.get(action="support.note_added")
    assert (added.actor_kind, added.actor_id, added.subject_id, added.object_id) == (
        "support", str(sam.pk), alice.pk, str(case.pk))
    assert "Called back" not in str(added.details)


def test_it_refuses_notes_on_someone_elses_or_a_closed_case(sam, sue, alice, audrey):
    case = open_case(sam, alice)
    assert client_for(sue).post(f"/support/cases/{case.pk}/notes/", {"text": "x"}).status_code == 404
    assert client_for(alice).post(f"/support/cases/{case.pk}/notes/", {"text": "x"}).status_code == 403
    assert client_for(audrey).post(f"/support/cases/{case.pk}/notes/", {"text": "x"}).status_code == 403
    assert client_for().post(f"/support/cases/{case.pk}/notes/", {"text": "x"}).status_code == 302
    assert client_for(sam).get(f"/support/cases/{case.pk}/notes/").status_code == 405
    client_for(sam).post(f"/support/cases/{case.pk}/close/")
    assert client_for(sam).post(f"/support/cases/{case.pk}/notes/", {"text": "x"}).status_code == 404
    assert not SupportCaseNote.objects.exists()
    assert not AuditEvent.objects.filter(action="support.note_added").exists()
