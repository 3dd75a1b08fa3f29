from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import User
from accounts.roles import ROLES
from core.errors import ServiceError


class Command(BaseCommand):
    help = "Give (or with --revoke take away) a role: holder, auditor or support."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role", choices=ROLES)
        parser.add_argument("--revoke", action="store_true", help="take the role away instead")

    def handle(self, *args, username, role, revoke, **options):
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist as exc:
            raise CommandError(f"no user named {username!r}") from exc
        try:
            (services.role_revoke if revoke else services.role_grant)(user=user, role=role)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        verb = "no longer has" if revoke else "now has"
        self.stdout.write(self.style.SUCCESS(f"{username} {verb} the {role} role"))
