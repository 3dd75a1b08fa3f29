from django.conf import settings
from django.core.management.base import BaseCommand

from vault import shredding, trash


class Command(BaseCommand):
    help = (
        "Crypto-shred the cloud media of accounts whose withdrawal grace period (WITHDRAWAL_GRACE_DAYS) is over, "
        "unless they turned it back on, destroy photos that have been in the trash for TRASH_DAYS, and delete orphan "
        "blobs. Idempotent: run it from cron as often as you like."
    )

    def handle(self, *args, **options):
        result = shredding.vault_purge_due()
        trashed = trash.trash_purge_due()
        self.stdout.write(
            f"{result['shredded']} account(s) shredded, {result['cancelled']} cancelled (consent given again), "
            f"{trashed} photo(s) destroyed after {settings.TRASH_DAYS} days in the trash, "
            f"{result['orphans']} orphan blob(s) deleted."
        )
