from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0007_cosignatures'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditOutbox',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('event_id', models.CharField(max_length=36, unique=True)),
                ('body', models.BinaryField(help_text="The canonical bytes with seq 0 and prev_hash 'pending'.")),
                ('mac', models.CharField(max_length=64)),
            ],
        ),
    ]
