from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_checkpoint_create, audit_checkpoint_if_due
from core.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Sign a checkpoint (C2SP tlog-checkpoint note) over every audit event so far, and print it. "
        "--if-new signs only when there are events past the latest checkpoint (quiet otherwise). "
        "The job workers do that as a periodic job (audit.jobs.checkpoint in JOBS_SCHEDULE), so the head is "
        "signed within AUDIT_CHECKPOINT_SECONDS of any new event. Each also signs a checkpoint "
        "of every holder log that grew and commits its head into the trail (docs/holder-log.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--if-new", action="store_true", help="sign only if events were added since the last one")

    def handle(self, *args, if_new, **options):
        if if_new:
            checkpoint = audit_checkpoint_if_due()
            if checkpoint is not None:
                self.stdout.write(checkpoint.note, ending="")
            return
        try:
            checkpoint = audit_checkpoint_create(holder_heads=True)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(checkpoint.note, ending="")
