"""Production refuses to start wrong under any server, not only through manage.py.

wsgi.py and asgi.py call refuse_to_start_wrong() once Django is set up: in production the
system checks (deployment ones included) run there, and any error stops the process with the
check's own message (gunicorn then reports "Worker failed to boot" and exits non-zero).
"""

import sys

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def refuse_to_start_wrong() -> None:
    if not settings.PRODUCTION:
        return
    problems = [
        message
        for message in checks.run_checks(include_deployment_checks=True)
        if message.level >= checks.ERROR and not message.is_silenced()
    ]
    if problems:
        text = "consentsvc refuses to start in production:\n" + "\n".join(f"  {p}" for p in problems)
        print(text, file=sys.stderr, flush=True)
        raise ImproperlyConfigured(text)
