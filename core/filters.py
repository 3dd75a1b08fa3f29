"""What the apps' django-filter FilterSets share (audit.filters, support.filters)."""

import django_filters


class FieldFilter(django_filters.Filter):
    """A query parameter read by the form field given; the FilterSet applies its parameters together, in
    its filter_queryset, through the app's own selector (one source of truth for the query)."""

    def __init__(self, field_class, **kwargs):
        self.field_class = field_class
        super().__init__(**kwargs)


class FilterSet(django_filters.FilterSet):
    """django-filter's FilterSet, with its form class built once per FilterSet class. django-filter builds
    a new class for every instance (new fields, through the forms metaclass), about 0.15 ms of each
    request that reads a query; the fields depend on the filters' declarations only. Each form copies
    the class's fields when it is made, as every Django form does, and choices given as a callable are
    still read at each rendering: nothing of one request's form reaches another's."""

    def get_form_class(self):
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")  # the class's own, never a parent FilterSet's
        if form_class is None:
            form_class = super().get_form_class()
            cls._form_class = form_class
        return form_class
