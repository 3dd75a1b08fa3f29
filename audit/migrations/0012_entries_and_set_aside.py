import hmac
import json

from django.db import migrations, models

from core.db import append_only

# The queue's body before this migration: the chained format with seq 0 and prev_hash "pending",
# MAC'd under its own label. Entries (audit.canonical.encode_entry) replace both.
_PENDING_MAC_LABEL = b"consentsvc-audit-pending-mac/v1\n"


def _queued_as_entries(apps, schema_editor):
    """Rewrites events still waiting in the queue in the entry format, each under the entry MAC,
    when its old MAC verifies; any other row is left as it is, and integration sets it aside."""
    from audit import canonical
    from audit.keys import mac_key

    outbox = apps.get_model("audit", "AuditOutbox")
    key = mac_key()
    for row in outbox.objects.using(schema_editor.connection.alias).order_by("id"):
        body = bytes(row.body)
        expected = hmac.new(key, _PENDING_MAC_LABEL + body, "sha256").hexdigest()
        if not hmac.compare_digest(expected, row.mac or ""):
            continue
        event = json.loads(body)
        entry = canonical.dumps({name: event[name] for name in canonical.ENTRY_KEYS if name != "v"} | {"v": 3})
        row.body = entry
        row.mac = canonical.mac(canonical.leaf_hash(entry), key)
        row.save(update_fields=["body", "mac"])


def _queue_must_be_empty(apps, schema_editor):
    if apps.get_model("audit", "AuditOutbox").objects.using(schema_editor.connection.alias).exists():
        raise RuntimeError("Events are waiting in the audit queue in the entry format: integrate them first "
                           "(manage.py audit_checkpoint), then migrate back.")


class Migration(migrations.Migration):
    """Entries without a position (v 3): the queue holds them, and entries integration refuses are set aside."""

    dependencies = [("audit", "0011_event_subject_object_index")]

    operations = [
        migrations.AlterField(
            model_name="auditoutbox",
            name="body",
            field=models.BinaryField(help_text="The entry's bytes (audit.canonical.encode_entry)."),
        ),
        migrations.CreateModel(
            name="AuditSetAside",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("queued_id", models.BigIntegerField(help_text="Its id in the queue (audit_auditoutbox).")),
                ("event_id", models.TextField(blank=True)),
                ("body", models.BinaryField()),
                ("mac", models.TextField(blank=True)),
                ("reason", models.CharField(choices=[("mac_invalid", "Mac Invalid"), ("not_an_entry", "Not An Entry"),
                                                     ("event_id_taken", "Event Id Taken")], max_length=32)),
                ("set_aside_at", models.DateTimeField()),
            ],
            options={"ordering": ["id"]},
        ),
        append_only("audit_auditsetaside"),
        migrations.RunPython(_queued_as_entries, _queue_must_be_empty),
    ]
