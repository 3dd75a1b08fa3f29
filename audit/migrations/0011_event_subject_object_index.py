# The consent read path asks for the newest consent event of a holder (audit.selectors.audit_newest).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0010_sqlite_link_key'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['subject_id', 'object_type', 'seq'], name='audit_event_subject_object'),
        ),
    ]
