"""The auditors' filters over the trail: one FilterSet reads the query of the events API and the
export (/api/v1/audit/events/, /api/v1/audit/export/) and, with names and date presets on top, of the
page (/audit/), so a query string selects the same events on each."""

import re
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.canonical import ACTION_FILTER_PATTERN, ACTOR_KINDS, CODE_PATTERN, OUTCOMES
from audit.models import AuditEvent
from audit.selectors import action_categories, audit_filter_q
from audit.sentences import account_resolve
from core.filters import FieldFilter, FilterSet

PERIODS = {"today": ("Today", 1), "7d": ("Last 7 days", 7), "30d": ("Last 30 days", 30)}


def today_utc() -> date:
    return datetime.now(UTC).date()


def parse_moment(text: str, *, end: bool = False) -> datetime | None:
    """An ISO date (a whole UTC day) or an ISO date-time, as an aware moment; None if it is neither.
    `end=True` makes a bare date its day's end (the next midnight): a bare `until` includes its day."""
    text = text.strip()
    try:  # the date first: parse_datetime reads a bare date as its midnight
        day = parse_date(text)
        moment = None if day else parse_datetime(text)
    except ValueError:
        return None
    if moment:
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)
    if day is None:
        return None
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def _moment_text(moment: datetime | None, *, end: bool = False) -> str | None:
    """The parameter that parse_moment reads back as `moment`: a bare date for a UTC midnight."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    if moment.timetz() == time.min.replace(tzinfo=UTC):
        return (moment.date() - timedelta(days=1 if end else 0)).isoformat()
    return moment.isoformat()


class MomentField(forms.Field):
    widget = forms.DateInput(attrs={"type": "date"})
    default_error_messages = {"invalid": "Enter a valid date: 2024-05-01, or a date-time (2024-05-01T10:00:00Z)."}

    def __init__(self, *, end: bool = False, **kwargs):
        self.end = end
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        moment = parse_moment(str(value), end=self.end)
        if moment is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return moment


def _no_account(text: str) -> forms.ValidationError:
    return forms.ValidationError(f"No single account has the username, email or id “{text}”.", code="no_account")


class AccountField(forms.CharField):
    """A username, email or account id, as (id, username); an id that is no account (any more) still filters."""

    def clean(self, value):
        text = super().clean(value)
        if not text:
            return None
        found = account_resolve(text)
        if found is None or found[0] < 1:
            raise _no_account(text)
        return found


class ActorField(forms.CharField):
    """An actor kind, "<kind>:<id>" as the API takes it, or an account's username, email or id:
    (the actor filter, the account's username or None)."""

    def clean(self, value):
        text = super().clean(value)
        if not text:
            return None
        kind, sep, _ = text.partition(":")
        if text in ACTOR_KINDS or (sep and kind in ACTOR_KINDS and re.match(CODE_PATTERN, text)):
            return (text, None)
        found = account_resolve(text)
        if found is None:
            raise _no_account(text)
        return (str(found[0]), found[1])


class PeriodForm(forms.Form):
    def clean(self):
        data = super().clean()
        # `until` is the exclusive end (a bare date: the next midnight), so equal means reversed
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise forms.ValidationError("'From' must not be after 'To'.", code="period_reversed")
        return data


def _first(value):
    return value[0] if isinstance(value, tuple) else value


class AuditEventFilterSet(FilterSet):
    """The API's filters: ids as the trail holds them (an export records its filters in its own event)."""

    since = FieldFilter(MomentField, label="From", help_text="UTC day.")
    until = FieldFilter(MomentField, end=True, label="To", help_text="Inclusive.")
    subject = FieldFilter(forms.IntegerField, min_value=1, label="About",
                          help_text="The data subject's account id.")
    actor = FieldFilter(forms.RegexField, regex=CODE_PATTERN, label="Done by",
                        help_text='"<kind>:<id>" (holder:12), a kind alone (support), or an id alone.')
    category = FieldFilter(forms.ChoiceField, label="Category",
                           choices=lambda: [("", "All"), *action_categories().items()])
    action = FieldFilter(forms.RegexField, regex=ACTION_FILTER_PATTERN, label="Exact action",
                         help_text="e.g. media.read", error_messages={"invalid": "Not an action name."})
    outcome = FieldFilter(forms.ChoiceField, label="Outcome",
                          choices=[("", "Any"), *[(o, o.capitalize()) for o in OUTCOMES]])

    api_messages = {"period_reversed": "'since' must come before 'until'."}

    class Meta:
        model = AuditEvent
        fields = []
        form = PeriodForm

    def selector_filters(self) -> dict:
        """The selector's filters (audit.selectors.audit_filter_q); none for an unbound query."""
        data = self.form.cleaned_data if self.is_bound else {}
        return {
            "since": data.get("since"),
            "until": data.get("until"),
            "subject_id": _first(data.get("subject")),
            "actor": _first(data.get("actor")),
            "action": data.get("action") or None,
            "category": data.get("category") or None,
            "outcome": data.get("outcome") or None,
        }

    def filter_queryset(self, queryset):
        return queryset.filter(audit_filter_q(**self.selector_filters()))

    def export_query(self) -> dict:
        """The same filters as the export API's parameters: names resolved to ids, a preset as dates."""
        filters = self.selector_filters()
        query = {
            "since": _moment_text(filters["since"]),
            "until": _moment_text(filters["until"], end=True),
            "subject": filters["subject_id"],
            "actor": filters["actor"],
            "action": filters["action"],
            "category": filters["category"],
            "outcome": filters["outcome"],
        }
        return {key: value for key, value in query.items() if value}


class TrailPageForm(PeriodForm):
    field_order = ["subject", "actor", "category", "action", "outcome", "period", "since", "until"]

    def clean(self):
        period = self.cleaned_data.get("period")
        if period:
            start = today_utc() - timedelta(days=PERIODS[period][1] - 1)
            self.cleaned_data["since"] = datetime.combine(start, time.min, tzinfo=UTC)
            self.cleaned_data["until"] = None
        return super().clean()


class AuditTrailFilterSet(AuditEventFilterSet):
    """The page's: the API's filters, where a person may also be named by username or email, and a
    date preset (today, the last 7 or 30 days) may stand for `since`."""

    subject = FieldFilter(AccountField, max_length=254, label="About",
                          help_text="Username, email or account id of the holder the events are about.")
    actor = FieldFilter(ActorField, max_length=254, label="Done by",
                        help_text="Username, email or id; or a kind: " + ", ".join(ACTOR_KINDS) + ".")
    period = FieldFilter(forms.ChoiceField, label="When",
                         choices=[("", "Any time"), *[(k, v[0]) for k, v in PERIODS.items()]])

    class Meta(AuditEventFilterSet.Meta):
        form = TrailPageForm
