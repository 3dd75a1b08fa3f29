from celery import shared_task
from django.core.management import call_command

from consentsvc.management.commands.housekeeping import JOBS


@shared_task(name="consentsvc.housekeeping", ignore_result=True)
def housekeeping() -> None:
    for job in JOBS:
        call_command(job, verbosity=0)
