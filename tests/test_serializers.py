"""core.api.serializers.ModelSerializer: fields worked out once per class, same answers as DRF's."""

import pytest
from rest_framework import serializers

from consent.api import EntryOutputSerializer
from consent.models import ConsentEntry
from tests.vault.conftest import grant, withdraw

pytestmark = pytest.mark.django_db


class PlainEntrySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="record_id")

    class Meta:
        model = ConsentEntry
        fields = EntryOutputSerializer.Meta.fields


def test_it_answers_as_drfs_model_serializer(alice):
    grant(alice)
    withdraw(alice)
    entries = list(ConsentEntry.objects.filter(subject=alice))
    assert len(entries) == 2
    for entry in entries:
        assert EntryOutputSerializer(entry).data == PlainEntrySerializer(entry).data
    assert EntryOutputSerializer(entries, many=True).data == PlainEntrySerializer(entries, many=True).data


def test_each_instance_has_its_own_fields_bound_to_it(alice):
    grant(alice)
    entry = ConsentEntry.objects.get(subject=alice)
    first, second = EntryOutputSerializer(entry), EntryOutputSerializer(entry)
    assert set(first.fields) == set(PlainEntrySerializer(entry).fields)
    for name in first.fields:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second
    # The kept fields are never handed out themselves (binding one would leak into the next).
    kept = EntryOutputSerializer._fields_built
    assert all(kept[name] is not first.fields[name] for name in kept)
