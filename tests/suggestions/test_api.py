"""The suggestion API of API.md, with allowed and denied tests for every role on every endpoint."""

import io

import pytest
from PIL import Image

from audit.models import AuditEvent
from suggestions import render
from suggestions.models import Suggestion, SuggestionJob
from tests.suggestions.conftest import COLOURS, a_day_out, grant, withdraw
from vault import gateway

pytestmark = pytest.mark.django_db

STAFF = ["audrey", "sam"]


def url(name, pk=None):
    base = "/api/v1/suggestions/"
    return {
        "list": base,
        "generate": f"{base}generate/",
        "job": f"{base}jobs/{pk}/",
        "content": f"{base}{pk}/content/",
        "accept": f"{base}{pk}/accept/",
        "dismiss": f"{base}{pk}/dismiss/",
    }[name]


# ------------------------------------------------------------------ generate and jobs


def test_it_starts_a_job_and_reports_it(alice, api, django_capture_on_commit_callbacks):
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).post(url("generate"))
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"job", "status"} and isinstance(body["job"], str)
    job = api(alice).get(url("job", body["job"])).json()
    assert job["status"] == "done" and job["progress"] == 100 and job["created"] >= 1
    assert Suggestion.objects.filter(owner=alice).count() == job["created"]


def test_it_joins_the_queued_job_instead_of_stacking_another(alice, api):
    grant(alice)
    first = api(alice).post(url("generate")).json()["job"]  # not run: on_commit never fires here
    assert api(alice).post(url("generate")).json()["job"] == first
    assert SuggestionJob.objects.filter(owner=alice).count() == 1


def test_it_refuses_to_generate_with_the_feature_off(alice, api):
    response = api(alice).post(url("generate"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "consent_required"
    assert not SuggestionJob.objects.exists()


@pytest.mark.parametrize("who", STAFF)
def test_it_refuses_generate_to_staff(who, request, api):
    assert api(request.getfixturevalue(who)).post(url("generate")).status_code == 403


def test_it_refuses_generate_to_anonymous(api):
    assert api().post(url("generate")).status_code == 401


def test_it_hides_a_job_from_everyone_but_its_owner(alice, bob, audrey, sam, api):
    grant(alice)
    job = api(alice).post(url("generate")).json()["job"]
    assert api(alice).get(url("job", job)).status_code == 200
    assert api(bob).get(url("job", job)).status_code == 404
    assert api(audrey).get(url("job", job)).status_code == 403
    assert api(sam).get(url("job", job)).status_code == 403
    assert api().get(url("job", job)).status_code == 401
    assert api(alice).get(url("job", 999999)).status_code == 404


# ------------------------------------------------------------------ list and content


def test_it_lists_the_owners_suggestions_as_api_md_says(made, alice, api):
    body = api(alice).get(url("list")).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == len(made) >= 2
    row = body["results"][0]
    assert {"id", "kind", "title", "created_at", "source_count", "status"} <= set(row)
    assert {r["kind"] for r in body["results"]} == {"collage", "stylized"}
    assert any(r["title"] == "Saturday in Lisbon" for r in body["results"])
    # The dates of the moment (14 June 2025), not of the day the suggestion was made.
    assert {(r["first_day"], r["last_day"]) for r in body["results"]} == {("2025-06-14", "2025-06-14")}


def test_it_lists_nothing_of_another_holders(made, bob, api):
    grant(bob)
    assert api(bob).get(url("list")).json()["count"] == 0


@pytest.mark.parametrize("who", STAFF)
def test_it_refuses_the_list_to_staff(made, who, request, api):
    assert api(request.getfixturevalue(who)).get(url("list")).status_code == 403


def test_it_refuses_the_list_to_anonymous(api):
    assert api().get(url("list")).status_code == 401


def test_it_serves_the_decrypted_output_to_its_owner_only(made, alice, bob, audrey, sam, api):
    collage = next(s for s in made if s.kind == "collage")
    response = api(alice).get(url("content", collage.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    assert Image.open(io.BytesIO(response.content)).format == "JPEG"
    assert AuditEvent.objects.filter(action="output.read", object_id=str(collage.output_id)).exists()
    assert api(bob).get(url("content", collage.pk)).status_code == 404
    assert api(audrey).get(url("content", collage.pk)).status_code == 403
    assert api(sam).get(url("content", collage.pk)).status_code == 403
    assert api().get(url("content", collage.pk)).status_code == 401


def test_it_serves_a_recap_as_animated_webp(alice, api):
    grant(alice)
    a_day_out(alice, COLOURS[:8])
    from suggestions import services

    services.suggestions_generate(user_id=alice.pk)
    recap = Suggestion.objects.get(owner=alice, kind="recap")
    response = api(alice).get(url("content", recap.pk))
    assert response["Content-Type"] == "image/webp"
    animation = Image.open(io.BytesIO(response.content))
    assert animation.is_animated and animation.n_frames == render.recap_frames(recap.source_count)


# ------------------------------------------------------------------ accept and dismiss


def test_it_marks_an_accepted_suggestion_shared(made, alice, api):
    response = api(alice).post(url("accept", made[0].pk))
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert api(alice).get(url("list"), {"status": "accepted"}).json()["count"] == 1
    assert AuditEvent.objects.filter(action="suggestion.accepted", object_id=str(made[0].pk)).count() == 1


@pytest.mark.parametrize("action", ["accept", "dismiss"])
def test_it_refuses_decisions_to_everyone_but_the_owner(made, action, bob, audrey, sam, api):
    target = url(action, made[0].pk)
    assert api(bob).post(target).status_code == 404
    assert api(audrey).post(target).status_code == 403
    assert api(sam).post(target).status_code == 403
    assert api().post(target).status_code == 401
    made[0].refresh_from_db()
    assert made[0].status == "new" and made[0].output_id is not None


def test_it_deletes_the_output_on_dismiss_and_does_not_make_it_again(made, alice, api):
    from suggestions import services
    from vault.models import DerivedOutput

    target = made[0]
    output_id = target.output_id
    assert api(alice).post(url("dismiss", target.pk)).status_code == 204
    assert not DerivedOutput.objects.filter(pk=output_id).exists()
    target.refresh_from_db()
    assert target.status == "dismissed" and target.output_id is None
    assert gateway.outputs_meta(user_id=alice.pk, output_ids=[output_id]) == {}  # the title went with it
    assert api(alice).get(url("content", target.pk)).status_code == 404
    assert api(alice).post(url("accept", target.pk)).status_code == 404
    assert target.pk not in [r["id"] for r in api(alice).get(url("list")).json()["results"]]
    services.suggestions_generate(user_id=alice.pk)
    assert Suggestion.objects.filter(owner=alice, idempotency_key=target.idempotency_key).count() == 1


def test_it_forgets_every_suggestion_when_the_feature_is_turned_off(made, alice, api):
    api(alice).post(url("dismiss", made[0].pk))
    withdraw(alice)
    assert not Suggestion.objects.filter(owner=alice).exists()
    assert api(alice).get(url("list")).json()["count"] == 0
