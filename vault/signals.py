from django.dispatch import Signal

# Sent once an upload has committed (never for a duplicate). Receivers get user_id only:
# nothing of the photo. Other apps reach it through vault.gateway.media_uploaded.
media_uploaded = Signal()

# Sent inside the unit of work that moves photos to the trash, with user_id and item_ids only:
# what was derived from them elsewhere (face data, invariant 11) goes with the move, not weeks
# later when the trash is emptied. Reached through vault.gateway.media_trashed.
media_trashed = Signal()
