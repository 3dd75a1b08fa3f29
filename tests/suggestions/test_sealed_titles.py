"""Titles name places and themes (invariant 9): sealed on the vault output, never in a column in clear.

The holder still sees them (API and page); nobody else does; they go with the output.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client

from audit.models import AuditEvent
from core.uow import Actor
from suggestions import services
from suggestions.models import Suggestion
from tests.conftest import unit_of
from tests.suggestions.conftest import COLOURS, SATURDAY, a_day_out, grant, titled
from tests.suggestions.factories import PORTO
from vault import gateway
from vault.models import DerivedOutput

pytestmark = pytest.mark.django_db

LABEL = "beach"


@pytest.fixture
def two_days(alice):
    """A Saturday in Lisbon, and the next one at the beach in Porto, made into suggestions."""
    grant(alice)
    a_day_out(alice, COLOURS[:4])
    a_day_out(alice, COLOURS[4:8], day=SATURDAY + dt.timedelta(days=7), where=PORTO, labels=[LABEL])
    services.suggestions_generate(user_id=alice.pk)
    return titled(alice)


def raw_rows(prefixes=("suggestions_", "vault_", "audit_")):
    """Every value of every column of every row of these apps' tables, as the database holds it."""
    names = [t for t in connection.introspection.table_names() if t.startswith(prefixes)]
    assert any(n.startswith("suggestions_") for n in names) and "vault_derivedoutput" in names
    with connection.cursor() as cursor:
        for table in names:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (introspected names)
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    yield table, column, value


def as_bytes(value) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).lower()
    return str(value).lower().encode()


def test_it_keeps_no_title_place_or_label_in_clear_in_any_column(two_days, alice):
    titles = {s.title for s in two_days}
    assert any("Lisbon" in t for t in titles) and any(LABEL in t for t in titles), titles  # not vacuous
    needles = {t.lower().encode() for t in titles if t} | {b"lisbon", b"porto", LABEL.encode()}
    sealed = 0
    for table, column, value in raw_rows():
        if table == "vault_derivedoutput" and column == "sealed_meta" and value is not None:
            sealed += 1
        found = [n for n in needles if n in as_bytes(value)]
        assert not found, (table, column, found)
    assert sealed == DerivedOutput.objects.filter(owner=alice).count() == len(two_days) >= 4


def test_it_shows_the_titles_to_their_owner_through_the_api_and_the_page(two_days, alice, api):
    titles = {s.title for s in two_days}
    events = AuditEvent.objects.count()
    body = api(alice).get("/api/v1/suggestions/").json()
    assert {r["title"] for r in body["results"]} == titles
    client = Client()
    client.force_login(alice)
    html = client.get("/suggestions/").content.decode()
    assert all(t in html for t in titles)
    # Listing one's own titles is not an audited read (see gateway.outputs_meta).
    assert AuditEvent.objects.count() == events
    accepted = api(alice).post(f"/api/v1/suggestions/{two_days[0].pk}/accept/").json()
    assert accepted["title"] == two_days[0].title


def test_it_shows_another_holder_neither_titles_nor_suggestions(two_days, alice, bob, api):
    grant(bob)
    assert api(bob).get("/api/v1/suggestions/").json()["count"] == 0
    for suggestion in two_days:
        assert api(bob).post(f"/api/v1/suggestions/{suggestion.pk}/accept/").status_code == 404
        assert api(bob).get(f"/api/v1/suggestions/{suggestion.pk}/content/").status_code == 404
    assert gateway.outputs_meta(user_id=bob.pk, output_ids=[s.output_id for s in two_days]) == {}
    client = Client()
    client.force_login(bob)
    html = client.get("/suggestions/").content.decode()
    assert not any(s.title in html for s in two_days)


def test_it_falls_back_to_the_kind_when_a_title_is_missing(alice, api):
    """Suggestions made before titles were sealed (the migration blanked them) show their kind."""
    grant(alice)
    a_day_out(alice, COLOURS[:3])
    services.suggestions_generate(user_id=alice.pk)
    with unit_of(alice):
        DerivedOutput.objects.filter(owner=alice).update(sealed_meta=None)
    assert {r["title"] for r in api(alice).get("/api/v1/suggestions/").json()["results"]} == {""}
    client = Client()
    client.force_login(alice)
    assert "<h2>Collage</h2>" in client.get("/suggestions/").content.decode()


@pytest.mark.parametrize("how", ["dismiss", "withdraw", "erase", "source_deleted"])
def test_it_loses_the_title_with_the_output(two_days, alice, how, django_capture_on_commit_callbacks):
    from tests.suggestions.conftest import withdraw
    from vault import services as vault_services
    from vault import shredding as vault_shredding

    target = two_days[0]
    with django_capture_on_commit_callbacks(execute=True):
        if how == "dismiss":
            services.suggestion_dismiss(user_id=alice.pk, suggestion_id=target.pk)
        elif how == "withdraw":
            withdraw(alice)
        elif how == "erase":
            vault_shredding.media_erase_all(user_id=alice.pk, actor=Actor.holder(alice.pk))
        else:
            source = DerivedOutput.objects.get(pk=target.output_id).sources.first()
            vault_services.media_delete(user_id=alice.pk, item_id=source.pk)
    assert not DerivedOutput.objects.filter(pk=target.output_id).exists()
    assert gateway.outputs_meta(user_id=alice.pk, output_ids=[target.output_id]) == {}
    left = Suggestion.objects.filter(pk=target.pk).first()
    assert left is None or (left.status == "dismissed" and left.output_id is None)
    assert not any(target.title.lower().encode() in as_bytes(v) for _, _, v in raw_rows())
