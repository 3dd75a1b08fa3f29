from django.apps import AppConfig


class SuggestionsConfig(AppConfig):
    name = "suggestions"

    def ready(self) -> None:
        from consent import uow
        from suggestions import receivers
        from vault import gateway

        # After the vault's handler (10): its outputs are deleted before the rows naming them go.
        uow.handler_register(name="suggestions", order=20, on_consent_ended=receivers.suggestions_on_consent_ended)
        gateway.held_counter_register(name="suggestions", count=receivers.suggestions_held)
        gateway.media_uploaded.connect(receivers.suggestions_on_media_uploaded, dispatch_uid="suggestions-upload")
        gateway.media_trashed.connect(receivers.suggestions_on_media_trashed, dispatch_uid="suggestions-trashed")
