from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent"

    def ready(self) -> None:
        from audit.verification import register_check
        from consent.binding import ledger_trail_check
        from consent.guards import missing_guards

        # audit_verify reports a ledger entry without a genuine event that commits to it, a state
        # row that is not on the newest consent event of the trail, and a consent guard that is gone.
        register_check("consent ledger", ledger_trail_check)
        register_check("consent guards", missing_guards)
