from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _cache_table(sender, using="default", **kwargs) -> None:
    """The database cache's table comes with every `migrate` (idempotent; nothing with Redis).
    post_migrate is sent once per app with models; this app has none, so hang on to one that does."""
    from django.core.management import call_command

    if sender.label != "contenttypes":
        return
    call_command("createcachetable", database=using, verbosity=0)


class ConsentsvcConfig(AppConfig):
    name = "consentsvc"
    verbose_name = "consentsvc"

    def ready(self) -> None:
        from consentsvc import checks  # noqa: F401  (registers the system checks)

        post_migrate.connect(_cache_table, dispatch_uid="consentsvc-cache-table")
