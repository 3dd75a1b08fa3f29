from django.core.management.base import BaseCommand

from accounts.tokens import tokens_purge_expired


class Command(BaseCommand):
    help = "Delete API tokens past their expiry (they already stopped working). Safe to run as often as you like."

    def handle(self, *args, **options):
        deleted = tokens_purge_expired()
        if options["verbosity"]:
            self.stdout.write(f"deleted {deleted} expired API token(s)")
