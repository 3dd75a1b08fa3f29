from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audit import checks  # noqa: F401  (registers the system checks)
        from audit.triggers import missing_guards
        from audit.verification import register_check

        register_check("database guards", missing_guards)
