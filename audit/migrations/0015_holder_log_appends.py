from django.db import migrations, models

from audit.triggers import install_heads_write, install_holder_appends, remove_heads_write, remove_holder_appends


class Migration(migrations.Migration):
    """Integration writes the global head and the heads of the holder logs it touched in one statement
    (the view audit_headwrite), and each holder head's upsert writes that log's new entries
    (audit.triggers): holder logs cost a pass no statement of their own. Entries already written stay."""

    dependencies = [
        ('audit', '0014_holder_logs'),
    ]

    operations = [
        migrations.AddField(
            model_name='holderlog',
            name='appended',
            field=models.TextField(default='', db_default='', help_text='The global seqs integration last appended, as a JSON list: the database writes them as the log\'s last entries (audit.triggers).'),
        ),
        migrations.RunPython(install_holder_appends, remove_holder_appends, elidable=False),
        migrations.RunPython(install_heads_write, remove_heads_write, elidable=False),
    ]
