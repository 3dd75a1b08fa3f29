"""Housekeeping: the idempotent purges that must run now and then. A periodic job of the workers
(settings.JOBS_SCHEDULE, every HOUSEKEEPING_SECONDS); `manage.py housekeeping` runs it once."""

from django.core.management import call_command
from django.utils import timezone

from core import jobs

# Crypto-shred withdrawals whose grace period is over (and orphan blobs), end expired support
# cases and delete expired exports, drop expired API tokens.
COMMANDS = ("vault_purge", "support_expire_cases", "tokens_purge")


def housekeeping_run(*, stdout=None, stderr=None) -> None:
    for command in COMMANDS:
        call_command(command, verbosity=0 if stdout is None else 1, stdout=stdout, stderr=stderr)
    jobs.forget_finished(now=timezone.now())


@jobs.job
def housekeeping() -> None:
    """Purges after the withdrawal grace period, expired support cases and exports, expired API
    tokens, and the records of finished jobs (core.jobs.forget_finished)."""
    housekeeping_run()

