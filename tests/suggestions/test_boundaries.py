"""Tests that try to make the engine see what it was not allowed to see.

Every source photo is one solid colour (with a small dark mark), so an output's pixels say
which photos went into it. Collages and recap frames are searched for the forbidden colours;
a stylised image is proved to come from an allowed photo by rendering that photo again and
getting the very same bytes.
"""

import datetime as dt

import pytest

from audit.models import AuditEvent
from consent import purposes
from suggestions import render, services
from suggestions.models import Suggestion, SuggestionJob
from tests.suggestions.conftest import COLOURS, SATURDAY, a_day_out, grant, photo, titled, upload, withdraw
from tests.suggestions.factories import LISBON, PORTO
from tests.suggestions.pixels import colours_in_output, output_bytes
from vault import gateway
from vault import services as vault_services
from vault.models import DerivedOutput

pytestmark = pytest.mark.django_db

ALLOWED = COLOURS[:6]
FORBIDDEN = COLOURS[6:]


@pytest.fixture(autouse=True)
def _make_everything(settings):
    settings.SUGGESTIONS_PER_PASS = 50


def interleaved(user, *, forbidden_where=LISBON, forbidden_day=SATURDAY):
    """Allowed and forbidden photos taken turn about, the forbidden at their own time and place."""
    allowed, forbidden = [], []
    for n, (good, bad) in enumerate(zip(ALLOWED, FORBIDDEN, strict=True)):
        when = SATURDAY + dt.timedelta(minutes=30 * n)
        allowed.append(upload(user, photo(good, when=when, where=LISBON, mark=n + 1)))
        forbidden.append(
            upload(user, photo(bad, when=forbidden_day + dt.timedelta(minutes=30 * n + 10), where=forbidden_where,
                               mark=n + 7))
        )
    return allowed, forbidden


def lineage(suggestion: Suggestion) -> set[int]:
    return set(DerivedOutput.objects.get(pk=suggestion.output_id).sources.values_list("pk", flat=True))


def assert_made_only_from(user, allowed_ids):
    made = titled(user)
    kinds = {s.kind for s in made}
    assert {"collage", "recap", "stylized"} <= kinds, kinds  # the test is not vacuous
    for suggestion in made:
        assert lineage(suggestion) <= set(allowed_ids), suggestion.title
        if suggestion.kind == "stylized":
            assert_stylized_from(suggestion, allowed_ids)
        else:
            found = colours_in_output(suggestion, COLOURS)
            assert not found & set(FORBIDDEN), (suggestion.kind, suggestion.title, found)
            assert found & set(ALLOWED), (suggestion.kind, found)  # and the photos it may use are there


def assert_stylized_from(suggestion, allowed_ids):
    output = output_bytes(suggestion)
    released = gateway.release(
        user_id=suggestion.owner_id, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=sorted(allowed_ids)
    )
    rebuilt = {
        item.meta.id
        for item in released
        for style in render.STYLES
        if render.stylize(render.Source.from_bytes(item.data), style) == output
    }
    assert len(rebuilt) == 1, "a stylised image is one allowed photo, rendered again to the same bytes"


def test_it_would_use_every_photo_if_nothing_were_excluded(alice):
    """The control: without exclusions the 'forbidden' colours do show up, so their absence below means something."""
    grant(alice)
    interleaved(alice)
    services.suggestions_generate(user_id=alice.pk)
    collage = Suggestion.objects.get(owner=alice, kind="collage")
    assert colours_in_output(collage, COLOURS) & set(FORBIDDEN)


def test_it_never_uses_excluded_items(alice):
    grant(alice)
    allowed, forbidden = interleaved(alice)
    for item_id in forbidden:
        vault_services.media_set_excluded(user_id=alice.pk, item_id=item_id, excluded=True)
    assert services.suggestions_generate(user_id=alice.pk).status == SuggestionJob.Status.DONE
    assert_made_only_from(alice, allowed)


def test_it_never_uses_photos_from_excluded_dates(alice):
    grant(alice)
    sunday = SATURDAY + dt.timedelta(days=1, hours=-8)  # early Sunday: the same weekend event
    allowed, forbidden = interleaved(alice, forbidden_day=sunday)
    vault_services.exclusion_create_date_range(user_id=alice.pk, start=dt.date(2025, 6, 15), end=dt.date(2025, 6, 15))
    services.suggestions_generate(user_id=alice.pk)
    assert_made_only_from(alice, allowed)


def test_it_never_uses_photos_from_excluded_places(alice):
    grant(alice)
    allowed, forbidden = interleaved(alice, forbidden_where=PORTO)
    vault_services.exclusion_create_place(user_id=alice.pk, name="Home", lat=PORTO[0], lon=PORTO[1], radius_m=2000)
    services.suggestions_generate(user_id=alice.pk)
    assert_made_only_from(alice, allowed)


def test_it_never_uses_another_holders_photos(alice, bob, monkeypatch):
    grant(alice)
    grant(bob)
    allowed = a_day_out(alice, ALLOWED)
    bobs = a_day_out(bob, FORBIDDEN)
    # Even a plan that names bob's items (a bug, or an attack on the planner) gets nothing of his.
    real_plan = services.planning.plan_suggestions

    def greedy_plan(*args, **kwargs):
        return [
            plan.__class__(plan.kind, plan.group, plan.title, plan.item_ids + tuple(bobs), plan.score, plan.style)
            for plan in real_plan(*args, **kwargs)
        ]

    monkeypatch.setattr(services.planning, "plan_suggestions", greedy_plan)
    services.suggestions_generate(user_id=alice.pk)
    assert_made_only_from(alice, allowed)
    assert not AuditEvent.objects.filter(action="media.read", object_id__in=[str(i) for i in bobs]).exists()
    assert gateway.release(user_id=alice.pk, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=bobs) == []


def test_it_reads_nothing_once_consent_is_off_even_if_asked_to(alice, settings, monkeypatch):
    settings.WITHDRAWAL_GRACE_DAYS = 30  # the cloud copies are still there, waiting to be shredded
    grant(alice)
    a_day_out(alice, ALLOWED)
    withdraw(alice)
    after = AuditEvent.objects.order_by("-seq").first().seq
    assert services.suggestions_generate(user_id=alice.pk).status == SuggestionJob.Status.SKIPPED
    # Skip our own check: the gateway must still refuse.
    monkeypatch.setattr(services, "consent_active_entry", lambda **kwargs: object())
    result = services.suggestions_generate(user_id=alice.pk)
    assert result.status == SuggestionJob.Status.SKIPPED and result.error_code == "consent_required"
    assert not DerivedOutput.objects.filter(owner=alice).exists()
    assert not Suggestion.objects.filter(owner=alice).exists()
    assert not AuditEvent.objects.filter(seq__gt=after, action="media.read").exists()
    assert AuditEvent.objects.filter(seq__gt=after, action="media.listed", outcome="denied").exists()


@pytest.mark.parametrize("purpose", purposes.REFUSED)
def test_it_can_never_read_or_store_for_a_refused_purpose(alice, purpose):
    grant(alice)
    ids = a_day_out(alice, ALLOWED[:3])
    with pytest.raises(gateway.GatewayDenied) as denied:
        gateway.candidates(user_id=alice.pk, purpose=purpose)
    assert denied.value.code == "purpose_not_grantable"
    with pytest.raises(gateway.GatewayDenied):
        gateway.release(user_id=alice.pk, purpose=purpose, item_ids=ids)
    with pytest.raises(gateway.GatewayDenied):
        gateway.output_store(user_id=alice.pk, purpose=purpose, kind="collage", source_ids=ids, data=b"x",
                             content_type="image/jpeg")
    assert not DerivedOutput.objects.exists()
    assert AuditEvent.objects.filter(purpose=purpose, outcome="denied").count() == 3
    assert not AuditEvent.objects.filter(purpose=purpose, outcome="allowed").exists()


def test_it_audits_every_item_it_reads_as_a_sharing_suggestions_read(alice, monkeypatch):
    grant(alice)
    a_day_out(alice, COLOURS[:9])
    released: list[int] = []
    real_release = gateway.release

    def spy(**kwargs):
        items = real_release(**kwargs)
        released.extend(item.meta.id for item in items)
        return items

    monkeypatch.setattr(services.gateway, "release", spy)
    before = AuditEvent.objects.order_by("-seq").first().seq
    services.suggestions_generate(user_id=alice.pk)
    reads = AuditEvent.objects.filter(seq__gt=before, action="media.read")
    assert released and len(reads) == len(released)
    assert {e.purpose for e in reads} == {gateway.PURPOSE_SUGGESTIONS}
    assert sorted(int(e.object_id) for e in reads) == sorted(released)
    assert {e.subject_id for e in reads} == {alice.pk}


def _fake_faces(monkeypatch) -> list:
    """Every photo shows the same one face (no dlib needed): the calls are recorded."""
    from suggestions import faces

    calls = []

    def find_faces(image, **kwargs):
        calls.append(image.size)
        return [faces.Face((0.25, 0.25, 0.75, 0.75), tuple([0.0] * 128))]

    monkeypatch.setattr(faces, "find_faces", find_faces)
    return calls


def test_it_computes_nothing_about_faces_without_face_analysis(alice, monkeypatch):
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    calls = _fake_faces(monkeypatch)
    services.suggestions_generate(user_id=alice.pk)
    assert calls == []
    assert not AuditEvent.objects.filter(purpose=gateway.PURPOSE_FACES).exists()
    assert not DerivedOutput.objects.filter(purpose=gateway.PURPOSE_FACES).exists()
    assert "Together" not in {s.title for s in titled(alice)}


def test_it_groups_people_only_with_face_analysis_and_forgets_them_when_it_goes(alice, monkeypatch):
    grant(alice, purposes.CAMERA_ROLL, purposes.FACE_ANALYSIS)
    ids = a_day_out(alice, COLOURS[:4])
    calls = _fake_faces(monkeypatch)
    services.suggestions_generate(user_id=alice.pk)
    assert len(calls) == len(ids)
    faces_reads = AuditEvent.objects.filter(action="media.read", purpose=gateway.PURPOSE_FACES)
    assert {int(e.object_id) for e in faces_reads} >= set(ids)
    [together] = [s for s in titled(alice) if s.title == "Together"]
    assert DerivedOutput.objects.get(pk=together.output_id).purpose == gateway.PURPOSE_FACES
    withdraw(alice, purposes.FACE_ANALYSIS)
    assert not Suggestion.objects.filter(pk=together.pk).exists()
    assert Suggestion.objects.filter(owner=alice).exists()  # the rest stays


def test_it_does_not_duplicate_when_run_twice(alice):
    grant(alice)
    a_day_out(alice, COLOURS[:8])
    first = services.suggestions_generate(user_id=alice.pk)
    count = Suggestion.objects.filter(owner=alice).count()
    assert len(first.created) == count >= 3
    second = services.suggestions_generate(user_id=alice.pk)
    assert second.created == [] and Suggestion.objects.filter(owner=alice).count() == count
