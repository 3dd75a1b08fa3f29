from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audit import checks  # noqa: F401  (registers the system checks)
        from audit.services import EventInput, audit_append_many
        from audit.triggers import missing_guards
        from audit.verification import register_check
        from core import uow

        register_check("database guards", missing_guards)
        # The unit of work appends every account write's events through this, last, in one batch:
        # it is the only caller of audit's writers outside audit (core imports no app).
        uow.audit_writer_register(event=EventInput, append_many=audit_append_many)
