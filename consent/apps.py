from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent"

    def ready(self) -> None:
        from audit.verification import register_check
        from consent.binding import ledger_trail_check

        # audit_verify reports a ledger entry without a genuine event that commits to it.
        register_check("consent ledger", ledger_trail_check)
