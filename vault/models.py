"""What the vault keeps. Content lives in encrypted blobs; rows hold sealed metadata.

Anything that says where a person was or what a photo shows (coordinates, labels,
capture time, place names, the photo's hash) is sealed under the account's data
key; what stays in clear is what the service needs to count and size things.
"""

import uuid

from django.conf import settings
from django.db import models

from vault import keys


class AccountKey(models.Model):
    """An account's data key for one scope, only ever stored wrapped by a master key.

    Deleting the row is crypto-shredding: every blob and sealed value under it becomes
    unreadable at once (and the rows that point at it go with it).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="vault_keys")
    scope = models.CharField(max_length=16, choices=[(s, s) for s in keys.SCOPES])
    key_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    master_key_id = models.CharField(max_length=32)
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    rewrapped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "scope"], name="vault_one_key_per_scope")]

    def __str__(self) -> str:
        return f"{self.scope} key {self.key_id} of account {self.user_id}"


class MediaItem(models.Model):
    """One cloud copy of a camera-roll photo: an encrypted original and thumbnail."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="media_items")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key = models.ForeignKey(AccountKey, on_delete=models.CASCADE, related_name="media_items")
    # The consent ledger entry (camera_roll_cloud_processing, "given") that authorised the upload.
    consent_entry = models.ForeignKey("consent.ConsentEntry", on_delete=models.PROTECT, related_name="+")
    # HMAC of the photo's SHA-256 under a subkey of the account key: finds duplicates
    # without keeping a hash that could be matched against a known photo.
    dedup_tag = models.CharField(max_length=64)
    # Sealed JSON: sha256, captured_at, lat, lon, labels.
    sealed_meta = models.BinaryField()
    content_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveBigIntegerField(help_text="Plaintext size of the stored (EXIF-stripped) original.")
    thumbnail_size = models.PositiveIntegerField()
    # The file exactly as uploaded, kept beside the original when the original is a conversion
    # of it (a HEIC arrives, the service works from a JPEG): the holder gets it back in their
    # data export; the gateway never releases it to any purpose.
    source_content_type = models.CharField(max_length=32, blank=True, default="")
    source_size = models.PositiveBigIntegerField(default=0, help_text="Plaintext bytes of the file as uploaded.")
    stored_bytes = models.PositiveBigIntegerField(help_text="Ciphertext bytes of every blob of the item.")
    # The item's own data key, wrapped under the account's media key (vault.keys.ItemKey): its
    # blobs are encrypted under it, so deleting this row crypto-shreds the one item. Null for
    # items stored before items had their own keys: their blobs are under the account key.
    item_key_id = models.UUIDField(null=True, blank=True, editable=False)
    wrapped_item_key = models.BinaryField(null=True, blank=True)
    has_location = models.BooleanField(default=False)
    # A video's length (vault.videos); null for a photo. Its ``original`` is the remuxed clip
    # (no place, no device metadata), its ``thumbnail`` the poster, its ``source`` the upload.
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    excluded = models.BooleanField(default=False)
    # Set when the holder deletes it: out of every read but the holder's own until restored,
    # or until TRASH_DAYS later, when housekeeping deletes it for good (vault.trash).
    trashed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "dedup_tag"], name="vault_media_unique_per_owner")]
        indexes = [
            models.Index(fields=["owner", "-id"], name="vault_media_owner_idx"),
            models.Index(fields=["trashed_at"], name="vault_media_trashed_idx",
                         condition=models.Q(trashed_at__isnull=False)),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"media {self.pk} of account {self.owner_id}"


class TimelineIndex(models.Model):
    """The holder's timeline index: each live item's id, uid and capture time, sealed as one blob under
    the account's media key (the database sees its size, never a capture time). A cache, not a record:
    the photos page checks it against the live items' ids and uids on every view, opens the metadata of
    only the items it lacks, and drops those no longer live (vault.selectors.media_timeline_pages).
    Deleting the key row shreds it with everything else under that key."""

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.ForeignKey(AccountKey, on_delete=models.CASCADE, related_name="+")
    sealed = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"timeline index of account {self.owner_id}"


class DerivedOutput(models.Model):
    """Something made from media (a collage, a recap, a stylised image), encrypted like media."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="derived_outputs")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key = models.ForeignKey(AccountKey, on_delete=models.CASCADE, related_name="outputs")
    kind = models.CharField(max_length=32)
    purpose = models.CharField(max_length=32)
    content_type = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    stored_bytes = models.PositiveBigIntegerField()
    # Sealed JSON the maker passed along (a suggestion's title: it names places and themes).
    # It lives and dies with this row, so whatever deletes the output deletes it too.
    sealed_meta = models.BinaryField(null=True, blank=True)
    sources = models.ManyToManyField(MediaItem, related_name="outputs")
    # The output's own data key, wrapped under the account's media key, as for items: deleting
    # the output (its source went to the trash, it was dismissed) crypto-shreds what it shows of
    # its sources. Null for outputs made before outputs had their own keys.
    item_key_id = models.UUIDField(null=True, blank=True, editable=False)
    wrapped_item_key = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "-id"], name="vault_output_owner_idx")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} output {self.pk} of account {self.owner_id}"


class Exclusion(models.Model):
    """Keep matching media out of every purpose but the holder's own access."""

    class Kind(models.TextChoices):
        DATE_RANGE = "date_range"
        PLACE = "place"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="media_exclusions")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Date ranges are inclusive calendar days; a place is sealed under the account's
    # settings key (name, lat, lon, radius_m), which media erasure leaves alone.
    start = models.DateField(null=True, blank=True)
    end = models.DateField(null=True, blank=True)
    key = models.ForeignKey(AccountKey, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    sealed_place = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} exclusion {self.pk} of account {self.owner_id}"


class PartialUpload(models.Model):
    """A resumable (tus 1.0) upload still arriving (vault.partials). Every piece received is an
    encrypted blob under the account's media key, so shredding that key (withdrawal, erase)
    destroys it with the rest; it is deleted UPLOAD_PARTIAL_HOURS after it was started."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key = models.ForeignKey(AccountKey, on_delete=models.CASCADE, related_name="partial_uploads")
    length = models.PositiveBigIntegerField()
    offset = models.PositiveBigIntegerField(default=0)
    segments = models.PositiveIntegerField(default=0)
    # One random hex name a segment, in order, which its blob's uid is derived from: two requests
    # writing the same segment (a retry racing the request it retries) write two blobs, and the
    # one that loses deletes only its own ("" for a segment named by its index alone, as before).
    segment_nonces = models.JSONField(default=list, blank=True)
    # Sealed JSON under the account key: the file's name on the phone.
    sealed_meta = models.BinaryField()
    method = models.CharField(max_length=16, default="api")
    device_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="vault_partial_expires_idx")]

    def __str__(self) -> str:
        return f"partial upload {self.uid} of account {self.owner_id}"


class ShredSchedule(models.Model):
    """A crypto-shred owed after a withdrawal or a lapse, due once the grace period is over."""

    class Cause(models.TextChoices):
        WITHDRAWAL = "withdrawal"
        LAPSE = "lapse"

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField()
    cause = models.CharField(max_length=16, choices=Cause.choices, default=Cause.WITHDRAWAL)
    requested_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"shred account {self.owner_id} media at {self.due_at}"
