from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import User
from accounts.roles import AUDITOR, HOLDER, SUPPORT

DEMO_ACCOUNTS = [
    ("alice", HOLDER, "alice-demo-pass-2026"),
    ("bob", HOLDER, "bob-demo-pass-2026"),
    ("audrey", AUDITOR, "audrey-demo-pass-2026"),
    ("sam", SUPPORT, "sam-demo-pass-2026"),
]


class Command(BaseCommand):
    help = "Create the demo accounts (development only) and print their passwords."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("demo accounts are for development only")
        for username, role, password in DEMO_ACCOUNTS:
            if not User.objects.filter(username=username).exists():
                user = services.user_create(username=username, password=password, role=role,
                                            email=f"{username}@example.org")
                # A first name, so what support does reads "Support agent Sam turned off ...".
                user.first_name = username.capitalize()
                user.save(update_fields=["first_name"])
            self.stdout.write(f"  {role:<8} {username:<7} password: {password}")
