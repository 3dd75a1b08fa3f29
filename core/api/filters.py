"""django-filter FilterSets on the API: one FilterSet parses a list's query for its page and its API;
here its form errors become the API's error shape."""

from django_filters import FilterSet
from rest_framework.exceptions import ValidationError

from core.errors import ERROR_CODES, ServiceError


def filterset_valid(filterset: FilterSet) -> FilterSet:
    """The FilterSet, once its query is valid. A field that does not parse is `invalid_request` with
    `fields`, as a serializer's would be; a form-wide error raised with a registered code
    (`period_reversed`) is that code, with the FilterSet's `api_messages` for it, or its description."""
    if filterset.is_valid():
        return filterset
    form = filterset.form
    if not any(field != "__all__" for field in form.errors):
        for error in form.non_field_errors().as_data():
            if error.code in ERROR_CODES:
                messages = getattr(filterset, "api_messages", {})
                raise ServiceError(error.code, messages.get(error.code) or ERROR_CODES[error.code][1])
    raise ValidationError({("non_field_errors" if field == "__all__" else field): list(errors)
                           for field, errors in form.errors.items()})
