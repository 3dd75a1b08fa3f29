from django.apps import AppConfig


class SuggestionsConfig(AppConfig):
    name = "suggestions"

    def ready(self) -> None:
        from core import uow
        from suggestions import receivers
        from vault import gateway

        # After vault's subscriber (INSTALLED_APPS order): its outputs are deleted before the rows naming them go.
        uow.subscribe(name="suggestions", message=uow.ConsentEnded, phase=uow.Phase.IN_UNIT,
                      handler=receivers.suggestions_on_consent_ended)
        uow.subscribe(name="suggestions-upload", message=gateway.MediaUploaded, phase=uow.Phase.AFTER_COMMIT,
                      handler=receivers.suggestions_on_media_uploaded)
        uow.subscribe(name="suggestions-trashed", message=gateway.MediaTrashed, phase=uow.Phase.IN_UNIT,
                      handler=receivers.suggestions_on_media_trashed)
        gateway.held_counter_register(name="suggestions", count=receivers.suggestions_held)
