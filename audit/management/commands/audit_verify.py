import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.selectors import audit_head
from audit.verification import audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit trail: recompute every hash, check seq has no gaps, rebuild the Merkle roots, "
        "check every checkpoint signature. Prints OK with the counts, or the first bad seq and why (exit 1)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")

    def handle(self, *args, no_progress=False, **options):
        total = audit_head().size
        with tqdm(total=total, unit="ev", disable=no_progress or total < 10_000, file=sys.stderr) as bar:
            report = audit_verify(progress=bar.update)
        if not report.ok:
            raise CommandError(f"FAILED at seq {report.first_bad_seq}: {report.problem}")
        self.stdout.write(
            f"OK: {report.events} events, {report.checkpoints} signed checkpoints verified; "
            f"root {report.root_hash}"
        )
