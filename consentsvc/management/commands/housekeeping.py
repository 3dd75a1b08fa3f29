from django.core.management.base import BaseCommand

from consentsvc.housekeeping import COMMANDS, housekeeping_run


class Command(BaseCommand):
    help = (
        f"Run the housekeeping once ({', '.join(COMMANDS)}). The job workers run it as a periodic job "
        "(consentsvc.housekeeping.housekeeping in JOBS_SCHEDULE, every HOUSEKEEPING_SECONDS)."
    )

    def handle(self, *args, **options):
        housekeeping_run(stdout=self.stdout, stderr=self.stderr)
