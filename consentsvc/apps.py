from django.apps import AppConfig


class ConsentsvcConfig(AppConfig):
    name = "consentsvc"
    verbose_name = "consentsvc"

    def ready(self) -> None:
        from consentsvc import checks  # noqa: F401  (registers the system checks)
