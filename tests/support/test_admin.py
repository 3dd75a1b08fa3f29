"""Django admin hardening: usable for operators, but it cannot edit or delete audit events or
consent ledger entries, and it shows no media content, labels or coordinates anywhere."""

from datetime import date

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.urls import reverse

from audit.models import AuditEvent
from consent.models import ConsentEntry
from core.uow import Actor
from support import rights, services
from tests.support.conftest import grant, open_case, upload
from tests.support.test_access_log import make_a_collage
from vault import services as vault_services

pytestmark = pytest.mark.django_db

# What alice's data holds that must never be shown: labels, a place name, coordinates
# (48°51' N 2°17' E in the photos, 51.5007 -0.1246 for the excluded place), the collage bytes.
SECRETS = ["grandma-edna", "labrador-rex", "Secret Garden", "48.85", "2.28", "51.50", "-0.124", "collage-bytes"]


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("olga", "olga@example.org", "an-operator-password-42")


@pytest.fixture
def console(operator):
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def everything(sam, alice, django_capture_on_commit_callbacks):
    grant(alice)
    ids = upload(alice, 3, labels=("labrador-rex", "grandma-edna"))
    make_a_collage(alice, ids)
    vault_services.exclusion_create_place(user_id=alice.pk, name="Secret Garden", lat=51.5007, lon=-0.1246,
                                          radius_m=150)
    vault_services.exclusion_create_date_range(user_id=alice.pk, start=date(2026, 2, 1), end=date(2026, 2, 2))
    with django_capture_on_commit_callbacks(execute=True):
        rights.export_request(user=alice)
    open_case(sam, alice)
    services.support_subject_summary(actor=Actor.support(sam.pk), user_id=alice.pk)
    return alice


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", [AuditEvent, ConsentEntry])
def test_it_shows_the_trail_and_the_ledger_read_only(console, everything, model):
    row = model.objects.order_by("pk").first()
    listing = console.get(_url(model, "changelist"))
    assert listing.status_code == 200
    assert "delete_selected" not in listing.content.decode()
    page = console.get(_url(model, "change", row.pk))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and "deletelink" not in html


@pytest.mark.parametrize("model", [AuditEvent, ConsentEntry])
def test_it_refuses_to_add_change_or_delete_audit_events_and_ledger_entries(console, operator, everything, model):
    row = model.objects.order_by("pk").first()
    before = model.objects.count()
    assert console.get(_url(model, "add")).status_code == 403
    assert console.post(_url(model, "add"), {}).status_code == 403
    assert console.post(_url(model, "change", row.pk), {"action": "media.tampered", "purpose": "x"}).status_code \
        == 403
    assert console.post(_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    bulk = console.post(_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [row.pk],
                                                    "post": "yes"})
    assert bulk.status_code in (200, 302)
    assert model.objects.count() == before
    assert model.objects.filter(pk=row.pk).exists()
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")
    request.user = operator
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, row)
    assert not model_admin.has_delete_permission(request, row)


def test_it_shows_no_media_labels_or_coordinates_on_any_admin_page(console, everything):
    seen = 0
    for model in admin.site._registry:
        listing = console.get(_url(model, "changelist"))
        assert listing.status_code == 200, model
        pages = [listing]
        for pk in model._default_manager.values_list("pk", flat=True)[:20]:
            page = console.get(_url(model, "change", pk))
            assert page.status_code == 200, (model, pk)
            pages.append(page)
        for page in pages:
            html = page.content.decode()
            for secret in SECRETS:
                assert secret not in html, f"{model._meta.label} shows {secret!r}"
            assert "sealed_meta" not in html and "sealed_place" not in html
            seen += 1
    assert seen > 10


def test_it_does_not_offer_sealed_fields_or_keys_in_any_admin_form(operator, everything):
    request = RequestFactory().get("/admin/")
    request.user = operator
    for model, model_admin in admin.site._registry.items():
        for pk in model._default_manager.values_list("pk", flat=True)[:5]:
            obj = model._default_manager.get(pk=pk)
            fields = set(model_admin.get_fields(request, obj))
            assert not fields & {"sealed_meta", "sealed_place", "wrapped", "canonical", "data"}, model


def test_it_lets_operators_look_at_support_cases_without_changing_them(console, everything):
    from support.models import SupportCase

    case = SupportCase.objects.get()
    page = console.get(_url(SupportCase, "change", case.pk))
    assert page.status_code == 200 and "4411" in page.content.decode()
    assert console.post(_url(SupportCase, "change", case.pk), {"expires_at": "2099-01-01"}).status_code == 403
    assert console.post(_url(SupportCase, "delete", case.pk), {"post": "yes"}).status_code == 403
    case.refresh_from_db()
    assert case.expires_at.year != 2099


def test_it_keeps_non_staff_out_of_the_admin_with_a_404(sam, audrey, alice):
    """Not even the admin's login page is there for them: the site's own 404, nothing saying an admin exists."""
    for user in (sam, audrey, alice, None):
        client = Client()
        if user is not None:
            client.force_login(user)
        for url in ("/admin/", "/admin/login/", _url(AuditEvent, "changelist"), "/admin/no/such/"):
            response = client.get(url)
            assert response.status_code == 404, (user, url, response.status_code)
            assert b"Django administration" not in response.content and b"There is nothing here" in response.content
        assert client.post("/admin/login/", {"username": "x", "password": "y"}).status_code == 404
