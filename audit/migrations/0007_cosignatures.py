from django.db import migrations, models

from core.db import append_only


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0006_tiles'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditCosignature',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('tree_size', models.BigIntegerField()),
                ('root_hash', models.CharField(max_length=64)),
                ('witness', models.CharField(max_length=255)),
                ('timestamp', models.BigIntegerField(help_text='When the witness signed (POSIX seconds), from the signature.')),
                ('line', models.TextField(help_text='The signature line, as it is added to the checkpoint note.')),
                ('received_at', models.DateTimeField()),
            ],
            options={
                'ordering': ['tree_size', 'witness'],
                'constraints': [models.UniqueConstraint(fields=('tree_size', 'witness'), name='audit_cosignature_once')],
            },
        ),
        append_only("audit_auditcosignature"),
    ]
