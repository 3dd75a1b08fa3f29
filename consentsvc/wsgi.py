import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consentsvc.settings")
application = get_wsgi_application()

from consentsvc.startup import refuse_to_start_wrong  # noqa: E402  (needs Django set up)

refuse_to_start_wrong()
