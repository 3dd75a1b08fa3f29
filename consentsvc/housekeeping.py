"""Housekeeping: the idempotent purges that must run now and then. A periodic job of the workers
(settings.JOBS_SCHEDULE, every HOUSEKEEPING_SECONDS); `manage.py housekeeping` runs it once."""

from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from core.jobs import job

# Crypto-shred withdrawals whose grace period is over (and orphan blobs), end expired support
# cases and delete expired exports, drop expired API tokens.
COMMANDS = ("vault_purge", "support_expire_cases", "tokens_purge")


def housekeeping_run(*, stdout=None, stderr=None) -> None:
    for command in COMMANDS:
        call_command(command, verbosity=0 if stdout is None else 1, stdout=stdout, stderr=stderr)
    jobs_forget_finished(before=timezone.now() - timedelta(days=1))


@job
def housekeeping() -> None:
    """Purges after the withdrawal grace period, expired support cases and exports, expired API
    tokens, and the records of jobs finished a day ago."""
    housekeeping_run()


def jobs_forget_finished(*, before) -> int:
    """The database backend keeps a row per job: drop the finished ones (failed ones stay a week)."""
    done, _ = DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL, finished_at__lt=before).delete()
    failed, _ = DBTaskResult.objects.filter(
        status=TaskResultStatus.FAILED, finished_at__lt=before - timedelta(days=6)
    ).delete()
    return done + failed
