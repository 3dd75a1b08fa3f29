"""The holder's access history in words, grouped, filterable, with a per-day chart; and its API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.context import reset_request_id, set_request_id
from audit.services import audit_append
from consent import purposes
from core.uow import Actor
from support import access_log, services
from tests.support.conftest import grant, open_case, upload
from vault import gateway

# Events are grouped by day: every test's events on one day, whatever the hour of the run.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("midday")]


def summaries(user, **filters) -> list[str]:
    return [entry.summary for entry in access_log.access_log_entries(user_id=user.pk, **filters)]


def make_a_collage(user, item_ids, *, request_id="job-collage-1"):
    """What a suggestions job does through the gateway: list, read, store an output (in one job, if an id)."""
    token = set_request_id(request_id)
    try:
        gateway.candidates(user_id=user.pk, purpose=gateway.PURPOSE_SUGGESTIONS)
        released = gateway.release(user_id=user.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=item_ids)
        gateway.output_store(user_id=user.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="collage",
                             source_ids=[r.meta.id for r in released], data=b"\xff\xd8collage",
                             content_type="image/jpeg")
    finally:
        reset_request_id(token)


def test_it_says_what_the_suggestions_engine_read_and_why(alice):
    grant(alice)
    ids = upload(alice, 12)
    make_a_collage(alice, ids)
    lines = summaries(alice)
    assert "The suggestions engine looked at 12 of your photos and used 12 in a collage" in lines
    assert "The suggestions engine made a collage for you" in lines
    assert "Your phone uploaded 12 photos" in lines
    assert lines[-1] == "You turned on Camera Roll Sharing Suggestions on the web"


def test_it_says_how_many_photos_a_pass_looked_at_and_how_many_it_used(alice):
    grant(alice)
    ids = upload(alice, 11)
    token = set_request_id("job-pass-1")
    try:
        released = gateway.release(user_id=alice.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=ids)
        gateway.output_store(user_id=alice.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="collage",
                             source_ids=[r.meta.id for r in released[:3]], data=b"\xff\xd8collage",
                             content_type="image/jpeg")
        gateway.output_store(user_id=alice.pk, purpose=gateway.PURPOSE_SUGGESTIONS, kind="recap",
                             source_ids=[r.meta.id for r in released[3:8]], data=b"RIFFrecap",
                             content_type="image/webp")
    finally:
        reset_request_id(token)
    lines = summaries(alice)
    assert ("The suggestions engine looked at 11 of your photos and made 2 suggestions from them: "
            "a collage of 3 and a recap animation of 5") in lines


def test_it_says_whether_a_change_came_from_the_web_or_the_phone_app(alice):
    from consent.services import consent_withdraw
    from tests.vault.conftest import jpeg_bytes
    from vault import services as vault_services

    grant(alice)
    vault_services.media_upload(user_id=alice.pk, data=jpeg_bytes(color=(1, 1, 1)), method="web")
    vault_services.media_upload(user_id=alice.pk, data=jpeg_bytes(color=(250, 1, 1)), method="api")
    consent_withdraw(user=alice, purpose=purposes.CAMERA_ROLL, method="api")
    lines = summaries(alice)
    assert "You turned off Camera Roll Sharing Suggestions from the phone app" in lines
    assert "You added a photo on the web" in lines
    assert "Your phone uploaded a photo" in lines


def test_it_words_the_trash(alice, django_capture_on_commit_callbacks):
    from vault import trash

    grant(alice)
    ids = upload(alice, 3)
    trash.media_trash(user_id=alice.pk, item_ids=ids)
    trash.media_restore(user_id=alice.pk, item_id=ids[0])
    trash.trash_empty(user_id=alice.pk)
    lines = summaries(alice)
    assert lines[:3] == ["You emptied the trash: 2 photos destroyed for good",
                         "You restored a photo from the trash", "You moved 3 photos to the trash"]


def test_it_links_reads_to_what_they_made_even_without_a_job_id(alice):
    grant(alice)
    ids = upload(alice, 5)
    make_a_collage(alice, ids[:3], request_id="")
    make_a_collage(alice, ids[2:], request_id="")
    lines = summaries(alice)
    assert lines[:3] == ["The suggestions engine made a collage for you",
                         "The suggestions engine looked at 3 of your photos and used 3 in a collage",
                         "The suggestions engine looked at the list of your photos to pick some to make suggestions"]


def test_it_puts_the_time_in_each_line(alice):
    grant(alice)
    entry = access_log.access_log_entries(user_id=alice.pk)[0]
    local = timezone.localtime(entry.last_at)
    assert entry.text == f"You turned on Camera Roll Sharing Suggestions on the web, {local.day} {local:%b %H:%M}"


def test_it_names_the_support_agent_and_the_ticket(sam, alice):
    grant(alice)
    upload(alice, 2)
    open_case(sam, alice)
    services.support_revoke(actor=Actor.support(sam.pk), user_id=alice.pk, purpose=purposes.CAMERA_ROLL,
                            reason="asked by phone")
    lines = summaries(alice)
    assert lines[:2] == [
        "Your cloud photos (2 photos) were destroyed because Camera Roll Sharing Suggestions was turned off",
        "Support agent sam revoked Camera Roll Sharing Suggestions, ticket 4411",
    ]
    assert "Support agent sam opened a support case about your account, ticket 4411" in lines
    # The support.revoke event repeats the ledger's: one line, not two.
    assert sum("revoked" in line for line in lines) == 1
    assert not any("asked by phone" in line for line in lines)


def test_it_says_when_support_erased_and_closed(sam, alice):
    grant(alice)
    upload(alice, 2)
    case = open_case(sam, alice)
    services.support_erase(actor=Actor.support(sam.pk), user_id=alice.pk, reason="asked")
    services.case_close(actor=Actor.support(sam.pk), case_id=case.pk)
    lines = summaries(alice)
    assert lines[0] == "Support agent sam closed the support case, ticket 4411"
    assert lines[1] == (
        "Support agent sam erased your cloud photos and everything made from them (2 photos), ticket 4411")
    assert not any(line.startswith("Support agent sam erased all") for line in lines)


def test_it_reports_refused_reads(alice):
    grant(alice)
    with pytest.raises(gateway.GatewayDenied):
        gateway.release(user_id=alice.pk, purpose=purposes.ADVERTISING, item_ids=[1])
    entry = access_log.access_log_entries(user_id=alice.pk)[0]
    assert entry.outcome == "denied"
    assert entry.summary == "A request to read your photos for advertising was refused"


def test_it_words_the_holders_own_reads_and_withdrawals(alice):
    grant(alice)
    (item_id,) = upload(alice, 1)
    b"".join(gateway.owner_open(user_id=alice.pk, item_id=item_id).chunks)
    from consent.services import consent_withdraw

    consent_withdraw(user=alice, purpose=purposes.CAMERA_ROLL, method="web")
    lines = summaries(alice)
    assert "You looked at one of your photos" in lines
    assert "You turned off Camera Roll Sharing Suggestions on the web" in lines


def test_it_never_shows_another_holders_events(alice, bob):
    grant(alice)
    grant(bob)
    upload(bob, 2)
    assert summaries(alice) == ["You turned on Camera Roll Sharing Suggestions on the web"]


def test_it_groups_only_events_done_in_one_go(alice):
    grant(alice)
    ids = upload(alice, 4)
    for job in ("job-a", "job-b"):
        token = set_request_id(job)
        try:
            gateway.release(user_id=alice.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=ids[:2])
        finally:
            reset_request_id(token)
    make_a_collage(alice, ids[2:], request_id="job-c")
    make_a_collage(alice, ids[2:], request_id="job-d")
    reads = [e for e in access_log.access_log_entries(user_id=alice.pk) if e.action == "media.read"]
    # Each job that made something is its own line; the passes that made nothing fold into one line a day.
    assert [e.summary for e in reads] == [
        "The suggestions engine looked at 2 of your photos and used 2 in a collage",
        "The suggestions engine looked at 2 of your photos and used 2 in a collage",
        "The suggestions engine read 2 of your photos to make suggestions (2 passes)",
    ]
    assert [e.count for e in reads] == [2, 2, 4]


def test_it_words_a_holder_browsing_their_photos_as_one_line_a_day(alice):
    grant(alice)
    ids = upload(alice, 3)
    for n, item_id in enumerate(ids):  # one thumbnail per request, as the media page loads them
        token = set_request_id(f"page-request-{n}")
        try:
            b"".join(gateway.owner_open(user_id=alice.pk, item_id=item_id, variant="thumbnail").chunks)
        finally:
            reset_request_id(token)
    # ...and again later that day, with a suggestion or two in between: still one line.
    b"".join(gateway.owner_open(user_id=alice.pk, item_id=ids[0], variant="original").chunks)
    lines = summaries(alice)
    assert lines.count("You looked at 3 of your photos") == 1
    assert not any(line.startswith("You opened") for line in lines)


def test_it_filters_by_category_actor_and_dates(sam, alice):
    grant(alice)
    upload(alice, 2)
    open_case(sam, alice)
    assert summaries(alice, category="support") == [
        "Support agent sam opened a support case about your account, ticket 4411"]
    assert summaries(alice, actor="support") == summaries(alice, category="support")
    assert all(line.startswith(("You", "Your")) for line in summaries(alice, actor="you"))
    today = timezone.localdate()
    assert summaries(alice, since=today + timedelta(days=1)) == []
    assert len(summaries(alice, since=today, until=today)) == len(summaries(alice))


def test_it_words_unknown_actions_plainly_rather_than_hiding_them(alice):
    from core import actions

    with actions.temporary():  # declared with no sentence for the holder
        actions.action("media.reindexed", category="media")
        audit_append(action="media.reindexed", actor_kind="system", subject_id=alice.pk, details={"count": 3})
        assert summaries(alice) == ["The system: media.reindexed"]


def test_it_counts_events_per_day_for_the_chart(alice):
    grant(alice)
    upload(alice, 3)
    days = access_log.events_per_day(user_id=alice.pk)
    assert len(days) == 30 and days[-1] == (timezone.localdate(), 4)
    assert sum(count for _, count in days) == 4


# --- the API -------------------------------------------------------------------


def test_it_serves_the_access_log_to_the_holder(api, sam, alice):
    grant(alice)
    open_case(sam, alice)
    response = api(alice).get("/api/v1/me/access-log/")
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == 2 and body["next"] is None
    first = body["results"][0]
    assert first["summary"] == "Support agent sam opened a support case about your account, ticket 4411"
    assert first["text"].startswith(first["summary"] + ", ")
    assert first["actor"] == "Support agent sam" and first["category"] == "support" and first["count"] == 1


def test_it_filters_the_access_log_api(api, alice):
    grant(alice)
    upload(alice, 2)
    body = api(alice).get("/api/v1/me/access-log/", {"category": "photos"}).json()
    assert [r["summary"] for r in body["results"]] == ["Your phone uploaded 2 photos"]
    bad = api(alice).get("/api/v1/me/access-log/", {"category": "nonsense"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"


def test_it_shows_each_holder_only_their_own_log_over_the_api(api, alice, bob):
    grant(alice)
    assert api(bob).get("/api/v1/me/access-log/").json() == {"next": None, "results": []}


@pytest.mark.parametrize("who,status", [("sam", 403), ("audrey", 403), ("anonymous", 401)])
def test_it_refuses_the_access_log_api_to_everyone_else(api, request, alice, who, status):
    grant(alice)
    client = api() if who == "anonymous" else api(request.getfixturevalue(who))
    assert client.get("/api/v1/me/access-log/").status_code == status
