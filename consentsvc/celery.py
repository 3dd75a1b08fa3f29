"""The Celery app, for running background work on workers when CELERY_BROKER_URL is set.

Start a worker with `celery -A consentsvc worker -l info` (same environment as the site).
Without a broker nothing here is used: jobs run in process (see suggestions/runner.py).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consentsvc.settings")

app = Celery("consentsvc")
# Every CELERY_* setting (broker URL, acks, prefetch...) comes from Django settings.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["consentsvc"])
app.autodiscover_tasks(related_name="jobs")  # support.jobs holds support.run
# Run `celery -A consentsvc beat` beside the workers for the periodic jobs.
app.conf.beat_schedule = {
    "housekeeping": {"task": "consentsvc.housekeeping", "schedule": 600.0},
    # A signed audit checkpoint within AUDIT_CHECKPOINT_SECONDS of any new event.
    "audit-checkpoint": {"task": "audit.checkpoint",
                         "schedule": float(os.environ.get("AUDIT_CHECKPOINT_SECONDS") or 10) / 2},
}
