"""The access history stays fast whatever its size: one page reads a bounded window of events
(whole rows, one query), the chart's counts come from one aggregate query, and the number of
queries does not grow with the history."""

from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit.services import EventInput, audit_append_many
from core.uow import Actor
from support import access_log
from tests.support.conftest import grant, open_case

pytestmark = pytest.mark.django_db

HISTORY = 10_000
PER_DAY = 200  # an active holder's day
# The page: session, user, roles, the events, the chart's aggregate and its look at the rows the trail
# does not vouch for (one query, two when events came since this process last looked: they are
# MAC-checked once), names for support agents, tickets and devices, the notices the base template
# shows; the API: token, roles, events, names.
MAX_QUERIES = 12


def a_day_of_events(holder, *, job: str) -> list[EventInput]:
    """What an active holder's day writes: uploads from the phone, suggestion passes reading photos
    and face scans between them, the holder browsing, and the engine's outputs."""
    events = []
    for n in range(PER_DAY // 4):
        events.append(EventInput(action="media.uploaded", actor_kind="holder", actor_id=holder.pk,
                                 subject_id=holder.pk, object_type="media", object_id=n,
                                 details={"method": "api", "device": 1}))
        events.append(EventInput(action="media.read", actor_kind="service", actor_id="suggestions",
                                 subject_id=holder.pk, object_type="media", object_id=n,
                                 purpose="sharing_suggestions", request_id=f"{job}-{n // 10}"))
        events.append(EventInput(action="media.read", actor_kind="service", actor_id="suggestions",
                                 subject_id=holder.pk, object_type="media", object_id=n, purpose="face_grouping",
                                 request_id=f"{job}-faces-{n // 10}"))
        events.append(EventInput(action="faces.analysed", actor_kind="service", actor_id="suggestions",
                                 subject_id=holder.pk, object_type="media", purpose="face_grouping",
                                 details={"items": 1, "faces": 1}))
    return events


def signed_in(user) -> Client:
    """A browser that has been here before (its session already knows the role it works in)."""
    client = Client()
    client.force_login(user)
    client.get("/me/access/")
    return client


@pytest.fixture
def busy_holder(alice, sam, monkeypatch):
    """alice with HISTORY events about her, PER_DAY a day, the newest today; and a support case."""
    today = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.get_current_timezone())
    days = HISTORY // PER_DAY
    before = today - timedelta(days=days)
    monkeypatch.setattr(timezone, "now", lambda: before)
    grant(alice)
    open_case(sam, alice)
    for day in range(days):
        moment = today - timedelta(days=days - 1 - day)
        monkeypatch.setattr(timezone, "now", lambda moment=moment: moment)
        audit_append_many(events=a_day_of_events(alice, job=f"job-{day}"))
    return alice, today.date()


def test_it_reads_a_page_of_a_ten_thousand_event_history_in_a_few_queries(busy_holder,
                                                                         django_assert_max_num_queries):
    alice, today = busy_holder
    client = signed_in(alice)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get("/me/access/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="access-older"' in body  # the rest of the history is a link away, not on this page


def test_a_page_naming_support_and_devices_stays_in_a_few_queries(busy_holder, sam, monkeypatch,
                                                                  django_assert_max_num_queries):
    """The worst case for names: support agents, a ticket and a device on the same page."""
    from support import services

    alice, today = busy_holder
    open_case(sam, alice, ticket="5522")
    services.support_revoke(actor=Actor.support(sam.pk), user_id=alice.pk, purpose="face_analysis", reason="asked")
    client = signed_in(alice)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get("/me/access/")
    assert ("Support agent sam asked to revoke Group photos by people, which was already off, ticket 5522"
            in response.content.decode())


def test_the_api_reads_a_page_of_it_in_a_few_queries_and_pages_back_in_time(busy_holder, api,
                                                                           django_assert_max_num_queries):
    alice, today = busy_holder
    client = api(alice)
    with django_assert_max_num_queries(MAX_QUERIES):
        first = client.get("/api/v1/me/access-log/").json()
    assert first["next"] and first["results"]
    with django_assert_max_num_queries(MAX_QUERIES):
        second = client.get(first["next"]).json()
    newest_of_second = max(line["last_at"] for line in second["results"])
    oldest_of_first = min(line["first_at"] for line in first["results"])
    assert newest_of_second < oldest_of_first  # older, and no line of the first page again


def test_a_day_of_interleaved_repeats_is_a_few_lines_not_hundreds(busy_holder):
    alice, today = busy_holder
    history = access_log.access_log_page(user_id=alice.pk)
    lines = [entry.summary for entry in history.entries
             if timezone.localdate(entry.last_at) == today]
    # The face scans between the reads fold into one line a day; reads of one pass are one line.
    assert sum(line.startswith("The suggestions engine looked for faces") for line in lines) == 1
    assert sum("to group them by the people in them" in line for line in lines) == 1
    assert len(lines) == len(set(lines)), lines
    assert len(lines) <= 10


def test_the_chart_counts_come_from_one_query(busy_holder, django_assert_num_queries):
    """One aggregate query, and one for the rows the trail does not vouch for (which it leaves out):
    two when the unsigned tail is new to this process, whose MACs it checks once."""
    alice, today = busy_holder
    with django_assert_num_queries(3):
        access_log.activity(user_id=alice.pk, today=today)
    with django_assert_num_queries(2):
        counts = access_log.activity(user_id=alice.pk, today=today)
    assert len(counts.days) == 30 and counts.days[-1] == (today, PER_DAY)
    assert counts.total == 30 * PER_DAY and counts.busy_day is None
