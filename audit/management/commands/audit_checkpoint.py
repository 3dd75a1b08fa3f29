from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_checkpoint_create
from consentsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Sign a checkpoint (C2SP tlog-checkpoint note) over every audit event so far, and print it."

    def handle(self, *args, **options):
        try:
            checkpoint = audit_checkpoint_create()
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(checkpoint.note, ending="")
