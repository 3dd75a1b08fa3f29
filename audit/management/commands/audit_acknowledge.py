from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_set_aside_acknowledge
from core.errors import ServiceError
from core.uow import Actor


class Command(BaseCommand):
    help = (
        "Acknowledge entries integration set aside (their MAC did not verify, their bytes were not an entry, or "
        "their event id was already in the trail), after looking at them: records an audit event for each, after "
        "which audit_verify no longer fails on them. The entries themselves stay set aside, never integrated."
    )

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, help="the set-aside entries' ids (audit_verify names them)")
        parser.add_argument("--all", action="store_true", help="every set-aside entry not acknowledged yet")
        parser.add_argument("--operator", default="operator", help="who acknowledges (an id or code, no spaces)")

    def handle(self, *args, ids=(), all=False, operator="operator", **options):  # noqa: A002 (the option's name)
        if not ids and not all:
            raise CommandError("name the set-aside entries to acknowledge, or give --all")
        try:
            done = audit_set_aside_acknowledge(ids=None if all else list(ids), actor=Actor.system(operator))
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        if not done:
            self.stdout.write("Nothing to acknowledge.")
        for set_aside in done:
            self.stdout.write(f"Acknowledged set-aside entry #{set_aside.pk} ({set_aside.reason}).")
