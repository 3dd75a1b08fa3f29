from django.dispatch import Signal

# Sent inside the transaction that ends a consent (withdrawn, lapsed or
# revoked_by_support), after the ledger entry and its audit event are written.
# Receivers get user_id, purpose and entry.
consent_withdrawn = Signal()
