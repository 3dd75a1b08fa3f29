from django.db import migrations, models

from core.db import append_only


def tiles_for_existing_events(apps, schema_editor):
    from audit.tiles import rebuild_tiles

    rebuild_tiles()


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0005_insert_guards'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditTile',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('level', models.PositiveSmallIntegerField()),
                ('index', models.BigIntegerField()),
                ('hashes', models.BinaryField()),
                ('root', models.BinaryField()),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('level', 'index'), name='audit_tile_level_index')],
            },
        ),
        append_only("audit_audittile"),
        migrations.RunPython(tiles_for_existing_events, migrations.RunPython.noop, elidable=False),
    ]
