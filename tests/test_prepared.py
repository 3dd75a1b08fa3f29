"""core.prepared: a queryset compiled once answers like the ORM for every parameter value."""

import threading

import pytest
from django.db import connection
from django.db.models import OuterRef, Subquery
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiToken, User
from accounts.tokens import token_create
from consent import purposes
from consent.models import ConsentState, Notice
from core import prepared
from tests.vault.conftest import grant, withdraw

pytestmark = pytest.mark.django_db


def _tokens(*, digest):
    return ApiToken.objects.filter(digest=digest).values(*prepared.field_names(ApiToken),
                                                         *prepared.field_names(User, "user__"))


def test_it_answers_what_the_orm_answers_for_each_value(alice, bob):
    query = prepared.PreparedQuery(_tokens, digest=ApiToken._meta.get_field("digest"))
    mine, _ = token_create(user=alice, name="phone")
    theirs, _ = token_create(user=bob, name="tablet")
    for token in (mine, theirs, mine):
        rows = query.rows(digest=token.digest)
        assert rows == list(_tokens(digest=token.digest))
        found = prepared.instance(ApiToken, rows[0])
        user = prepared.instance(User, rows[0], "user__")
        # Converted as the ORM converts (aware datetimes, not SQLite's text).
        assert (found.pk, found.user_id, found.expires_at, user.username) == (
            token.pk, token.user_id, token.expires_at, token.user.username)
        assert found.expires_at.tzinfo is not None
    assert query.rows(digest="0" * 64) == []


def test_a_value_is_a_parameter_never_sql(alice):
    query = prepared.PreparedQuery(_tokens, digest=ApiToken._meta.get_field("digest"))
    token_create(user=alice)
    assert query.rows(digest="' OR 1=1 --") == []
    assert query.rows(digest="x' UNION SELECT * FROM accounts_user --") == []


def test_it_compiles_once_per_connection_and_shape(alice, bob):
    built = []

    def notices(*, purpose_names, user_id):
        built.append(purpose_names)
        own = ConsentState.objects.filter(subject_id=user_id, purpose=OuterRef("purpose"))
        return (Notice.objects.filter(purpose__in=list(purpose_names))
                .annotate(state_event=Subquery(own.values("event")[:1]), state_id=Subquery(own.values("pk")[:1]))
                .values("purpose", "state_event", "state_id").order_by("purpose", "-published_at", "-id"))

    query = prepared.PreparedQuery(notices, user_id=ConsentState._meta.get_field("subject"))
    grant(alice)
    grant(bob)
    withdraw(bob)
    one = (purposes.CAMERA_ROLL,)
    # The holder's id is used in two subqueries: each use gets the value asked for.
    assert query.rows(purpose_names=one, user_id=alice.pk)[0]["state_event"] == "given"
    assert query.rows(purpose_names=one, user_id=bob.pk)[0]["state_event"] == "withdrawn"
    assert query.rows(purpose_names=one, user_id=bob.pk + 1000)[0]["state_event"] is None
    assert built == [one]
    query.rows(purpose_names=purposes.GRANTABLE, user_id=alice.pk)
    assert built == [one, purposes.GRANTABLE]

    # Another thread has its own connection, and compiles for it.
    def elsewhere():
        query.rows(purpose_names=one, user_id=alice.pk)

    if connection.vendor == "postgresql":  # an in-memory SQLite test database is this thread's alone
        worker = threading.Thread(target=elsewhere)
        worker.start()
        worker.join()
        assert built == [one, purposes.GRANTABLE, one]


def test_it_runs_one_query_per_call(alice):
    query = prepared.PreparedQuery(_tokens, digest=ApiToken._meta.get_field("digest"))
    token, _ = token_create(user=alice)
    query.rows(digest=token.digest)
    with CaptureQueriesContext(connection) as captured:
        query.rows(digest=token.digest)
    assert len(captured.captured_queries) == 1


def test_a_parameter_the_query_does_not_use_is_refused(alice):
    query = prepared.PreparedQuery(lambda *, digest: ApiToken.objects.values("pk"),
                                   digest=ApiToken._meta.get_field("digest"))
    with pytest.raises(ValueError, match="'digest' does not reach the SQL"):
        query.rows(digest="abc")


def test_a_sequence_parameter_takes_any_length(alice, bob):
    query = prepared.PreparedQuery(
        lambda *, ids: User.objects.filter(pk__in=ids).order_by("pk").values("username"),
        ids=(User._meta.get_field("id"),),
    )
    assert query.rows(ids=[alice.pk]) == [{"username": alice.username}]
    assert query.rows(ids=[bob.pk, alice.pk]) == [{"username": alice.username}, {"username": bob.username}]
    assert query.rows(ids=[bob.pk]) == [{"username": bob.username}]


def test_a_shape_that_matches_nothing_answers_nothing_without_a_query(alice):
    query = prepared.PreparedQuery(
        lambda *, ids, kinds: User.objects.filter(pk__in=ids, username__in=list(kinds)).values("username"),
        ids=(User._meta.get_field("id"),),
    )
    with CaptureQueriesContext(connection) as captured:
        assert query.rows(ids=[alice.pk], kinds=()) == []
    assert captured.captured_queries == []
    assert query.rows(ids=[alice.pk], kinds=(alice.username,)) == [{"username": alice.username}]
