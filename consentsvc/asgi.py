import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consentsvc.settings")
application = get_asgi_application()

from consentsvc.startup import refuse_to_start_wrong  # noqa: E402  (needs Django set up)

refuse_to_start_wrong()
