"""What the apps' django-filter FilterSets share (audit.filters, support.filters)."""

import django_filters


class FieldFilter(django_filters.Filter):
    """A query parameter read by the form field given; the FilterSet applies its parameters together, in
    its filter_queryset, through the app's own selector (one source of truth for the query)."""

    def __init__(self, field_class, **kwargs):
        self.field_class = field_class
        super().__init__(**kwargs)
