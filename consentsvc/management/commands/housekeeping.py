import time

from django.core.management import call_command
from django.core.management.base import BaseCommand

# The idempotent jobs that must run now and then: crypto-shred withdrawals whose grace
# period is over (and orphan blobs), end expired support cases and delete expired exports.
JOBS = ("vault_purge", "support_expire_cases", "tokens_purge")


class Command(BaseCommand):
    help = (
        "Run the periodic jobs once (vault_purge, support_expire_cases, tokens_purge), or with --every SECONDS "
        "forever. "
        "The job workers run the same as a periodic job (consentsvc.jobs.housekeeping, every HOUSEKEEPING_SECONDS)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--every", type=int, default=0, help="repeat every SECONDS (0: run once and exit)")

    def handle(self, *args, every, **options):
        while True:
            for job in JOBS:
                call_command(job, stdout=self.stdout, stderr=self.stderr)
            if every <= 0:
                return
            time.sleep(every)
