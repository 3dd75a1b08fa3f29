import re
from datetime import UTC, datetime, timedelta

from django import forms

from audit.canonical import ACTION_FILTER_PATTERN, ACTOR_KINDS, CODE_PATTERN, OUTCOMES
from audit.selectors import action_categories
from audit.sentences import account_resolve

PERIODS = {"today": ("Today", 1), "7d": ("Last 7 days", 7), "30d": ("Last 30 days", 30)}


def today_utc():
    return datetime.now(UTC).date()


class AuditFilterForm(forms.Form):
    subject = forms.CharField(required=False, max_length=254, label="About",
                              help_text="Username, email or account id of the holder the events are about.")
    actor = forms.CharField(required=False, max_length=254, label="Done by",
                            help_text="Username, email or id; or a kind: " + ", ".join(ACTOR_KINDS) + ".")
    category = forms.ChoiceField(required=False, label="Category",
                                 choices=lambda: [("", "All"), *action_categories().items()])
    action = forms.RegexField(regex=ACTION_FILTER_PATTERN, required=False, label="Exact action",
                              help_text="e.g. media.read", error_messages={"invalid": "Not an action name."})
    outcome = forms.ChoiceField(choices=[("", "Any"), *[(o, o.capitalize()) for o in OUTCOMES]], required=False)
    period = forms.ChoiceField(required=False, label="When",
                               choices=[("", "Any time"), *[(k, v[0]) for k, v in PERIODS.items()]])
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}),
                            help_text="UTC day.")
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}),
                            help_text="Inclusive.")

    def clean_subject(self):
        text = self.cleaned_data["subject"].strip()
        if not text:
            return None
        found = account_resolve(text)
        if found is None:
            raise forms.ValidationError(f"No single account has the username, email or id “{text}”.")
        return found

    def clean_actor(self):
        text = self.cleaned_data["actor"].strip()
        if not text:
            return None
        kind, sep, _ = text.partition(":")
        if text in ACTOR_KINDS or (sep and kind in ACTOR_KINDS and re.match(CODE_PATTERN, text)):
            return (text, None)  # a kind, or "<kind>:<id>" as the API takes it
        found = account_resolve(text)
        if found is None:
            raise forms.ValidationError(f"No single account has the username, email or id “{text}”.")
        return (str(found[0]), found[1])

    def clean(self):
        data = super().clean()
        period = data.get("period")
        if period:
            data["since"] = today_utc() - timedelta(days=PERIODS[period][1] - 1)
            data["until"] = None
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("'From' must not be after 'To'.")
        return data

    def filters(self) -> dict:
        """The selector's filters (audit.selectors.audit_filter_q), whole UTC days."""
        data = self.cleaned_data
        return {
            "since": datetime.combine(data["since"], datetime.min.time(), tzinfo=UTC) if data.get("since") else None,
            "until": datetime.combine(data["until"] + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
            if data.get("until") else None,
            "subject_id": data["subject"][0] if data.get("subject") else None,
            "actor": data["actor"][0] if data.get("actor") else None,
            "action": data.get("action") or None,
            "category": data.get("category") or None,
            "outcome": data.get("outcome") or None,
        }

    def export_query(self) -> dict:
        """The same filters as the export API's parameters, ids resolved and periods as dates."""
        data = self.cleaned_data
        query = {
            "since": data["since"].isoformat() if data.get("since") else None,
            "until": data["until"].isoformat() if data.get("until") else None,
            "subject": data["subject"][0] if data.get("subject") else None,
            "actor": data["actor"][0] if data.get("actor") else None,
            "action": data.get("action"),
            "category": data.get("category"),
            "outcome": data.get("outcome"),
        }
        return {key: value for key, value in query.items() if value}
