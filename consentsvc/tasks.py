from celery import shared_task
from django.core.management import call_command

from consentsvc.management.commands.housekeeping import JOBS


@shared_task(name="consentsvc.housekeeping", ignore_result=True)
def housekeeping() -> None:
    for job in JOBS:
        call_command(job, verbosity=0)


@shared_task(name="audit.checkpoint", ignore_result=True)
def audit_checkpoint() -> None:
    """Signs the audit head when it moved: beat runs this every AUDIT_CHECKPOINT_SECONDS."""
    call_command("audit_checkpoint", "--if-new", verbosity=0)
