"""Download and share links: a link works for anyone without an account, is audited on every
open and shown in the access history, and is dead at once when revoked, expired, dismissed or
when consent is withdrawn. Recaps come as animated WebP and H.264 MP4."""

import datetime as dt
import io

import av
import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from consent import purposes
from suggestions import services
from suggestions.models import ShareLink, Suggestion
from support import access_log
from tests.conftest import unit_of
from tests.suggestions.conftest import COLOURS, a_day_out, grant, withdraw
from tests.suggestions.pixels import output_bytes

pytestmark = pytest.mark.django_db
STAFF = ["audrey", "sam"]


def share(api, user, suggestion) -> tuple[str, dict]:
    response = api(user).post(f"/api/v1/suggestions/{suggestion.pk}/share-links/")
    assert response.status_code == 201, response.content
    body = response.json()
    return "/" + body["url"].split("/", 3)[3], body


def test_a_share_link_opens_without_an_account_and_every_open_is_audited(made, alice, api):
    suggestion = made[0]
    path, body = share(api, alice, suggestion)
    assert body["state"] == "active" and body["opens"] == 0
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(days=6, hours=23) < expires - timezone.now() <= dt.timedelta(days=7)
    token = path.split("/")[2]
    assert len(token) >= 40  # 256 bits, URL-safe
    assert not ShareLink.objects.filter(token_hash__contains=token).exists()  # only a hash is kept

    visitor = Client()  # nobody signed in
    page = visitor.get(path)
    assert page.status_code == 200 and f"/s/{token}/content/" in page.content.decode()
    before = AuditEvent.objects.filter(action="output.shared_read").count()
    for _ in range(2):
        content = visitor.get(f"{path}content/")
        assert content.status_code == 200 and content.content == output_bytes(suggestion)
    download = visitor.get(f"{path}content/?download=1")
    assert download["Content-Disposition"].startswith("attachment")
    events = AuditEvent.objects.filter(action="output.shared_read").order_by("seq")
    assert events.count() == before + 3
    assert {e.subject_id for e in events} == {alice.pk} and {e.outcome for e in events} == {"allowed"}
    listed = api(alice).get(f"/api/v1/suggestions/{suggestion.pk}/share-links/").json()["results"]
    assert [(link["state"], link["opens"]) for link in listed] == [("active", 3)]
    lines = [entry.summary for entry in access_log.access_log_entries(user_id=alice.pk)]
    assert any("opened a suggestion through your share link" in line for line in lines), lines
    assert any("made a share link" in line for line in lines)


def test_a_revoked_link_is_dead_at_once(made, alice, api):
    path, body = share(api, alice, made[0])
    assert Client().get(f"{path}content/").status_code == 200
    assert api(alice).delete(f"/api/v1/share-links/{body['id']}/").status_code == 204
    assert Client().get(path).status_code == 404
    assert Client().get(f"{path}content/").status_code == 404
    listed = api(alice).get(f"/api/v1/suggestions/{made[0].pk}/share-links/").json()["results"]
    assert listed[0]["state"] == "revoked"


def test_an_expired_link_is_dead(made, alice, api, settings):
    settings.SHARE_LINK_DAYS = 1
    path, body = share(api, alice, made[0])
    with unit_of(alice):
        ShareLink.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert Client().get(f"{path}content/").status_code == 404


@pytest.mark.parametrize("how", ["withdraw", "dismiss", "delete_source"])
def test_a_link_dies_with_consent_or_with_its_suggestion(made, alice, api, how):
    path, _ = share(api, alice, made[0])
    assert Client().get(f"{path}content/").status_code == 200
    if how == "withdraw":
        withdraw(alice, purposes.CAMERA_ROLL)
    elif how == "dismiss":
        services.suggestion_dismiss(user_id=alice.pk, suggestion_id=made[0].pk)
    else:
        from vault.models import DerivedOutput
        from vault.services import media_delete

        source = DerivedOutput.objects.get(pk=made[0].output_id).sources.first()
        media_delete(user_id=alice.pk, item_id=source.pk)
    assert Client().get(path).status_code == 404
    assert Client().get(f"{path}content/").status_code == 404
    assert not ShareLink.objects.filter(suggestion_id=made[0].pk).exists()


def test_a_link_is_refused_by_the_gateway_the_moment_consent_goes(made, alice, api, monkeypatch):
    """Even if a link row outlived a withdrawal, the gateway re-checks consent on every open."""
    path, _ = share(api, alice, made[0])
    monkeypatch.setattr(services, "suggestions_forget", lambda **kwargs: 0)  # keep the rows this once
    from suggestions import receivers

    monkeypatch.setattr(receivers.services, "suggestions_forget", lambda **kwargs: 0)
    monkeypatch.setattr("vault.shredding.outputs_delete", lambda *args, **kwargs: 0)
    monkeypatch.setattr("vault.shredding._shred", lambda uow: {})
    withdraw(alice, purposes.CAMERA_ROLL)
    assert ShareLink.objects.filter(suggestion_id=made[0].pk).exists()
    assert Client().get(f"{path}content/").status_code == 404
    denied = AuditEvent.objects.filter(action="output.shared_read", outcome="denied", subject_id=alice.pk)
    assert denied.exists()


def test_unknown_tokens_open_nothing(made):
    for token in ["x", "A" * 43, "../../etc", "%00" * 20]:
        assert Client().get(f"/s/{token}/").status_code == 404
        assert Client().get(f"/s/{token}/content/").status_code == 404


def test_share_links_are_the_holders_own(made, alice, bob, api, request):
    path, body = share(api, alice, made[0])
    grant(bob)
    assert api(bob).post(f"/api/v1/suggestions/{made[0].pk}/share-links/").status_code == 404
    assert api(bob).get(f"/api/v1/suggestions/{made[0].pk}/share-links/").status_code == 404
    assert api(bob).delete(f"/api/v1/share-links/{body['id']}/").status_code == 404
    for who in STAFF:
        staff = api(request.getfixturevalue(who))
        assert staff.post(f"/api/v1/suggestions/{made[0].pk}/share-links/").status_code == 403
        assert staff.delete(f"/api/v1/share-links/{body['id']}/").status_code == 403
    assert api().post(f"/api/v1/suggestions/{made[0].pk}/share-links/").status_code == 401
    page = Client()
    page.force_login(bob)
    assert page.post(f"/suggestions/{made[0].pk}/share/").status_code == 404
    assert page.post(f"/share-links/{body['id']}/revoke/").status_code == 404
    assert page.get(f"/suggestions/{made[0].pk}/download/").status_code == 404
    assert Client().get(f"{path}content/").status_code == 200  # still alive: nobody else could touch it


def test_the_page_offers_download_and_share_link(made, alice):
    page = Client()
    page.force_login(alice)
    html = page.get("/suggestions/").content.decode()
    assert f'href="/suggestions/{made[0].pk}/download/"' in html and "Share link" in html
    download = page.get(f"/suggestions/{made[0].pk}/download/")
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    made_link = page.post(f"/suggestions/{made[0].pk}/share/", follow=True).content.decode()
    assert "/s/" in made_link and "Revoke link" in made_link
    [link] = ShareLink.objects.filter(suggestion=made[0])
    page.post(f"/share-links/{link.pk}/revoke/")
    link.refresh_from_db()
    assert link.revoked_at is not None


def test_a_recap_comes_as_webp_and_mp4(alice, api):
    grant(alice)
    a_day_out(alice, COLOURS[:6])
    services.suggestions_generate(user_id=alice.pk)
    recap = Suggestion.objects.get(owner=alice, kind="recap")
    assert recap.video_output_id is not None
    client = api(alice)
    webp = client.get(f"/api/v1/suggestions/{recap.pk}/content/")
    assert webp["Content-Type"] == "image/webp"
    video = client.get(f"/api/v1/suggestions/{recap.pk}/content/?format=mp4&download=1")
    assert video.status_code == 200 and video["Content-Type"] == "video/mp4"
    assert video["Content-Disposition"].startswith("attachment") and video.content[4:8] == b"ftyp"
    with av.open(io.BytesIO(video.content)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = sum(1 for _ in container.decode(stream))
    assert frames > 24 * 6  # seconds of motion, not a slideshow of stills
    collage = Suggestion.objects.filter(owner=alice, kind="collage").first()
    assert client.get(f"/api/v1/suggestions/{collage.pk}/content/?format=mp4").status_code == 404
