from django import forms

from consent import purposes


class AccountSearchForm(forms.Form):
    q = forms.CharField(label="Username (or its start), email or account id", max_length=254, required=False)


class CaseOpenForm(forms.Form):
    subject = forms.IntegerField(widget=forms.HiddenInput)
    ticket = forms.CharField(label="Ticket reference", max_length=64, help_text="For example 4411.")
    reason = forms.CharField(
        label="Reason", max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why you need to act on this account. Kept on the case; never written to the audit trail.",
    )


class RevokeForm(forms.Form):
    # No default: the agent must choose which setting to turn off.
    purpose = forms.ChoiceField(
        label="Setting to turn off",
        choices=[("", "— choose a setting —"), *[(p, purposes.PURPOSE_LABELS[p]) for p in purposes.GRANTABLE]],
        error_messages={"required": "Choose which setting to turn off."},
    )
    reason = forms.CharField(label="Reason", max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Shown to the holder with the change; kept on the case, "
                                       "never in the audit trail.")
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # On the confirmation: the counts it showed (to notice a change meanwhile) and the agent's tick.
    destroys = forms.CharField(required=False, widget=forms.HiddenInput)
    understood = forms.BooleanField(required=False)

    @property
    def purpose_label(self) -> str:
        return purposes.PURPOSE_LABELS.get(self.cleaned_data.get("purpose", ""), "")


class CaseNoteForm(forms.Form):
    text = forms.CharField(label="Add a note", max_length=4000, widget=forms.Textarea(attrs={"rows": 2}),
                           help_text="For you and other agents; never shown to the holder or written to the "
                                     "audit trail.")


class EraseForm(forms.Form):
    reason = forms.CharField(label="Reason", max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    confirm = forms.CharField(label="Type the account's username to confirm", max_length=150)
    destroys = forms.CharField(required=False, widget=forms.HiddenInput)
    understood = forms.BooleanField(required=False)

    def __init__(self, *args, username: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.username = username

    def clean_confirm(self):
        value = self.cleaned_data["confirm"].strip()
        if value != self.username:
            raise forms.ValidationError("That is not this account's username; nothing was erased.")
        return value


class HolderEraseForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand: every photo in the cloud and everything made from them is destroyed now, "
              "and cannot be brought back; Camera Roll Sharing Suggestions is turned off.",
    )
