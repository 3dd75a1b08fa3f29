"""The actions consent records (see core.actions for how to declare one)."""

from core.actions import action, category

category("consent", auditor="Consent", holder="Consent choices", order=10)

# One per ledger event (consent.models.ConsentEntry.Event): consent.services records f"consent.{event}".
action("consent.given", category="consent")
action("consent.withdrawn", category="consent")
action("consent.lapsed", category="consent")
action("consent.revoked_by_support", category="consent")
action("consent.state_unverified", category="consent")
