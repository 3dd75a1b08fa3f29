"""Serializer helpers shared by the apps' APIs."""

import copy

from rest_framework import serializers


class ModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer that works out its fields from the model once per class, not per instance.

    DRF introspects the model (field classes, choices, lengths, validators) for every serializer it
    builds, which on a small API answer costs more than the query behind it. The fields depend on
    the class alone, so the first instance's are kept and later instances get fresh copies (as
    DRF does for declared fields).
    """

    def get_fields(self):
        cls = type(self)
        built = cls.__dict__.get("_fields_built")
        if built is None:
            built = super().get_fields()
            cls._fields_built = built
        return copy.deepcopy(built)
