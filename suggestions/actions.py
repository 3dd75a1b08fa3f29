"""The actions suggestions records (see core.actions for how to declare one)."""

from core.actions import action, category

category("suggestions", auditor="Suggestions", holder="Suggestions", order=30)

action("suggestions.generated", category="suggestions", repeats=True)
action("suggestion.accepted", category="suggestions")
action("suggestion.dismissed", category="suggestions")
action("faces.analysed", category="suggestions", repeats=True)
action("person.updated", category="suggestions")
action("person.merged", category="suggestions")
action("share_link.created", category="suggestions")
action("share_link.revoked", category="suggestions")
