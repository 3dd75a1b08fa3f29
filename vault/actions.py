"""The actions the vault records (see core.actions for how to declare one)."""

from core.actions import action, category

category("media", auditor="Media access", holder="Your photos", holder_key="photos", order=20)

action("media.uploaded", category="media", repeats=True)
action("media.upload_started", category="media")
action("media.upload_duplicate", category="media", repeats=True)
action("media.upload_refused", category="media", repeats=True)
action("media.read", category="media", per_request=True, repeats=True)
action("media.listed", category="media", per_request=True, repeats=True)
action("media.deleted", category="media", per_request=True)
action("media.trashed", category="media")
action("media.restored", category="media")
action("media.excluded", category="media")
action("media.included", category="media")
action("media.erased", category="media")
action("media.rekeyed", category="media")
action("media.shred_scheduled", category="media")
action("exclusion.created", category="media")
action("exclusion.deleted", category="media")
# What the gateway records for the suggestions engine: filed with suggestions, whose work they are.
action("faces.stored", category="suggestions")
action("faces.read", category="suggestions")
action("output.stored", category="suggestions", per_request=True)
action("output.read", category="suggestions", repeats=True)
action("output.shared_read", category="suggestions", repeats=True)
action("output.deleted", category="suggestions", per_request=True)
