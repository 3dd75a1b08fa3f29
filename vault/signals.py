from django.dispatch import Signal

# Sent once an upload has committed (never for a duplicate). Receivers get user_id only:
# nothing of the photo. Other apps reach it through vault.gateway.media_uploaded.
media_uploaded = Signal()
