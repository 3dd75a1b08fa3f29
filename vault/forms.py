from django import forms


class DateRangeForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="From")
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="To (inclusive)")

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", "The end date is before the start date.")
        return data


class PlaceForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="Only you see this name.")
    lat = forms.FloatField(
        min_value=-90, max_value=90, label="Latitude", widget=forms.NumberInput(attrs={"step": "any"})
    )
    lon = forms.FloatField(
        min_value=-180, max_value=180, label="Longitude", widget=forms.NumberInput(attrs={"step": "any"})
    )
    radius_m = forms.FloatField(min_value=1, max_value=100_000, initial=200, label="Radius (metres)")


class EraseForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand every photo and suggestion in the cloud is destroyed now and cannot be recovered."
    )
