"""The access history's chart: one bar per day over the last 30 days, empty days drawn and titled."""

from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.utils import timezone

from audit.services import audit_append
from support.charts import bar_chart

# Days are counted on the product's clock, read again by the test: one day, whatever the hour of the run.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("midday")]


class _Chart(HTMLParser):
    """The day groups of #access-chart: their attributes, bars and titles, as the browser gets them."""

    def __init__(self):
        super().__init__()
        self.in_chart = False
        self.days: list[dict] = []
        self._title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg" and attrs.get("id") == "access-chart":
            self.in_chart = True
        if not self.in_chart:
            return
        classes = (attrs.get("class") or "").split()
        if tag == "g" and "day" in classes:
            self.days.append({"day": attrs["data-day"], "count": int(attrs["data-count"]), "classes": classes,
                              "title": "", "bars": [], "marks": 0})
        elif tag == "rect" and "bar" in classes:
            self.days[-1]["bars"].append({"height": float(attrs["height"]), "count": int(attrs["data-count"]),
                                          "day": attrs["data-day"]})
        elif tag == "rect" and "empty-mark" in classes:
            self.days[-1]["marks"] += 1
        elif tag == "title" and self.days:
            self._title = True

    def handle_endtag(self, tag):
        if tag == "svg":
            self.in_chart = False
        if tag == "title":
            self._title = False

    def handle_data(self, data):
        if self._title and self.days:
            self.days[-1]["title"] += data


def chart_of(user) -> list[dict]:
    client = Client()
    client.force_login(user)
    response = client.get("/me/access/")
    assert response.status_code == 200
    parser = _Chart()
    parser.feed(response.content.decode())
    return parser.days


def at(moment):
    """Make the service's clock read `moment` (events are stamped and the chart's window ends by it)."""
    return lambda: moment


def test_it_draws_thirty_days_with_zeros_on_the_empty_ones(alice, monkeypatch):
    start = timezone.now()
    for _ in range(2):
        audit_append(action="consent.given", actor_kind="holder", actor_id=alice.pk, subject_id=alice.pk)
    monkeypatch.setattr(timezone, "now", at(start + timedelta(days=3)))
    for _ in range(5):
        audit_append(action="media.read", actor_kind="holder", actor_id=alice.pk, subject_id=alice.pk)
    monkeypatch.setattr(timezone, "now", at(start + timedelta(days=10)))

    days = chart_of(alice)

    today = timezone.localdate()
    expected_days = [(today - timedelta(days=29 - i)).isoformat() for i in range(30)]
    assert [d["day"] for d in days] == expected_days
    busy = {timezone.localdate(start).isoformat(): 2, timezone.localdate(start + timedelta(days=3)).isoformat(): 5}
    assert {d["day"]: d["count"] for d in days if d["count"]} == busy
    for d in days:
        (bar,) = d["bars"]
        assert bar["day"] == d["day"] and bar["count"] == d["count"]
        if d["count"] == 0:
            # Drawn, not skipped: a zero-height bar, a mark on the axis, and a title naming the day.
            assert bar["height"] == 0 and d["marks"] == 1 and "empty" in d["classes"]
            assert d["title"].endswith(": no events")
        else:
            assert bar["height"] > 0 and d["marks"] == 0
            assert d["title"].endswith(f": {d['count']} events")
        day = timezone.datetime.fromisoformat(d["day"]).date()
        assert d["title"].startswith(f"{day.day} {day:%b %Y}")
    assert sum(1 for d in days if d["count"] == 0) == 28
    tallest = max(days, key=lambda d: d["count"])
    assert tallest["count"] == 5 and tallest["bars"][0]["height"] == max(b["height"] for d in days for b in d["bars"])


def test_it_draws_thirty_empty_days_for_a_new_account(bob):
    days = chart_of(bob)
    assert len(days) == 30
    assert all(d["count"] == 0 and d["bars"][0]["height"] == 0 and d["marks"] == 1 for d in days)
    assert days[-1]["day"] == timezone.localdate().isoformat()


def test_it_gives_every_day_its_own_slot_in_order():
    today = timezone.localdate()
    chart = bar_chart([(today - timedelta(days=29 - i), 1 if i % 7 == 0 else 0) for i in range(30)])
    assert len(chart.bars) == 30
    xs = [bar.slot_x for bar in chart.bars]
    assert xs == sorted(xs) and len(set(xs)) == 30
    for bar in chart.bars:
        assert bar.slot_x <= bar.x and bar.x + bar.width <= bar.slot_x + bar.slot_width + 0.01
        assert (bar.height == 0) == bar.empty
    assert chart.bars[0].label.endswith(": 1 event") and chart.bars[1].label.endswith(": no events")


@pytest.mark.parametrize("peak,lines", [(0, []), (1, [1]), (3, [1, 3]), (10, [5, 10])])
def test_its_gridlines_are_whole_numbers_at_their_true_height(peak, lines):
    today = timezone.localdate()
    chart = bar_chart([(today - timedelta(days=29 - i), peak if i == 29 else 0) for i in range(30)])
    assert [value for _, value in chart.gridlines] == lines
    for y, value in chart.gridlines:
        assert y == pytest.approx(chart.baseline - chart.plot_height * value / peak, abs=0.01)


@pytest.mark.parametrize("day", [date(2026, 12, 7), date(2027, 1, 1), date(999, 3, 4), date(1, 1, 1)])
def test_a_day_bars_date_text_is_what_the_date_filter_writes(day):
    from django.template.defaultfilters import date as date_filter

    (bar,) = bar_chart([(day, 3)]).bars
    assert bar.date_text == date_filter(day, "Y-m-d")
