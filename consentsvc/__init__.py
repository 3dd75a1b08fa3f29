# Load the Celery app with Django, so tasks queued from the site (`.delay`, `send_task`) use the
# broker configured in settings (CELERY_BROKER_URL). Nothing connects until a task is sent.
from consentsvc.celery import app as celery_app

__all__ = ["celery_app"]
