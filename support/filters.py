"""The holder's access-history filters: one FilterSet reads the query of the page (/me/access/) and of its
API (/api/v1/me/access-log/), over that holder's own events only."""

from django import forms

from audit.models import AuditEvent
from core.filters import FieldFilter, FilterSet
from support import access_log


class AccessForm(forms.Form):
    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The start date is after the end date.", code="period_reversed")
        return data


def _categories():
    return [("", "Everything"), *[(k, v[0]) for k, v in access_log.categories().items()], ("other", "Other")]


class AccessLogFilterSet(FilterSet):
    """Days in the service's time zone, both ends included; what kind of event; who did it; and where
    the page starts (`before`: the event the next older page begins before, from the page's "Older" link
    or the API's `next`). The queryset given is the holder's own events: no filter reaches past it."""

    since = FieldFilter(forms.DateField, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = FieldFilter(forms.DateField, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    category = FieldFilter(forms.ChoiceField, label="What", choices=_categories)
    actor = FieldFilter(forms.ChoiceField, label="Who", choices=lambda: [("", "Anyone"),
                                                                          *access_log.ACTOR_FILTERS.items()])
    before = FieldFilter(forms.IntegerField, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)

    api_messages = {"period_reversed": "'since' must not be after 'until'."}

    class Meta:
        model = AuditEvent
        fields = []
        form = AccessForm

    def selector_filters(self) -> dict:
        """access_log_page's filters (and activity's, without `before`); none for an unbound query."""
        data = self.form.cleaned_data if self.is_bound else {}
        return {key: data.get(key) or None for key in ("since", "until", "category", "actor", "before")}

    def filter_queryset(self, queryset):
        filters = self.selector_filters()
        events = access_log.events_filtered(queryset, **{k: v for k, v in filters.items() if k != "before"})
        return events.filter(seq__lt=filters["before"]) if filters["before"] else events
