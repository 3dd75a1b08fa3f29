from django.apps import AppConfig
from django.db.models.signals import post_save


class SuggestionsConfig(AppConfig):
    name = "suggestions"

    def ready(self) -> None:
        from consent.signals import consent_withdrawn
        from suggestions import receivers

        consent_withdrawn.connect(receivers.suggestions_on_consent_withdrawn, dispatch_uid="suggestions-withdrawn")
        # A lazy "app_label.Model" sender: suggestions imports nothing of vault but the gateway.
        post_save.connect(
            receivers.suggestions_on_media_saved, sender="vault.MediaItem", dispatch_uid="suggestions-upload"
        )
