import pytest
from django.db import DatabaseError, connection, transaction

from consent import purposes, services
from consent.models import ConsentEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(alice):
    return services.consent_give(user=alice, purpose=purposes.CAMERA_ROLL, notice_version="1",
                                 method="web")


def test_it_refuses_orm_updates(entry):
    entry.event = "withdrawn"
    with pytest.raises(TypeError, match="append-only"):
        entry.save()
    with pytest.raises(TypeError, match="append-only"):
        ConsentEntry.objects.filter(pk=entry.pk).update(event="withdrawn")
    assert ConsentEntry.objects.get(pk=entry.pk).event == "given"


def test_it_refuses_orm_deletes(entry):
    with pytest.raises(TypeError, match="append-only"):
        entry.delete()
    with pytest.raises(TypeError, match="append-only"):
        ConsentEntry.objects.all().delete()
    assert ConsentEntry.objects.filter(pk=entry.pk).exists()


def test_it_refuses_raw_sql_update(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE consent_consententry SET event = 'withdrawn' WHERE id = %s", [entry.pk])
    assert ConsentEntry.objects.get(pk=entry.pk).event == "given"


def test_it_refuses_raw_sql_delete(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_consententry")
    assert ConsentEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE exists on PostgreSQL only")
def test_it_refuses_truncate_on_postgresql(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        # Check the deferred foreign keys now, so TRUNCATE reaches the trigger rather than
        # PostgreSQL's "pending trigger events" guard.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE consent_consententry CASCADE")
    assert ConsentEntry.objects.filter(pk=entry.pk).exists()
