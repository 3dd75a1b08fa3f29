# Titles name places and themes taken from encrypted locations and labels (invariant 9): they
# are sealed on the vault output now (DerivedOutput.sealed_meta), so the plaintext column goes.
#
# Titles of suggestions made before this migration are not carried over (doing so would need
# the vault's keys here, and suggestions may only talk to vault.gateway); those cards show
# their kind instead. The column is blanked before it is dropped so that no row version made
# from here on holds a title; older row versions on disk are reclaimed by the database's own
# housekeeping (PostgreSQL VACUUM, SQLite's table rebuild for the drop plus VACUUM).

from django.db import migrations


def blank_titles(apps, schema_editor):
    Suggestion = apps.get_model("suggestions", "Suggestion")
    Suggestion.objects.exclude(title="").update(title="")


class Migration(migrations.Migration):

    dependencies = [
        ("suggestions", "0001_initial"),
        ("vault", "0002_derivedoutput_sealed_meta"),
    ]

    operations = [
        migrations.RunPython(blank_titles, migrations.RunPython.noop, elidable=True),
        migrations.RemoveField(
            model_name="suggestion",
            name="title",
        ),
    ]
