from django import forms

from audit.canonical import ACTION_FILTER_PATTERN, CODE_PATTERN, OUTCOMES


class AuditFilterForm(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                            help_text="From this day (UTC).")
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                            help_text="To this day, inclusive.")
    subject = forms.IntegerField(required=False, min_value=1, label="Subject id")
    actor = forms.RegexField(regex=CODE_PATTERN, required=False, help_text="holder:12, support, or an id")
    action = forms.RegexField(regex=ACTION_FILTER_PATTERN, required=False, help_text="e.g. media.read")
    outcome = forms.ChoiceField(choices=[("", "any"), *[(o, o) for o in OUTCOMES]], required=False)

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("'From' must not be after 'to'.")
        return data
