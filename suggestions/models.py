import uuid

from django.conf import settings
from django.db import models


class Suggestion(models.Model):
    """Something made for the holder to share. The pixels live in the vault, encrypted, as a
    DerivedOutput with lineage; when the vault deletes that output (a source deleted or excluded,
    consent withdrawn, erasure) this row goes with it.

    The title ("Lisbon, 3 days", "Saturday at the beach") names places and themes taken from
    encrypted locations and labels, so it is not a column here: it is sealed on the output
    (gateway.output_store(meta=...)), goes with it, and selectors.suggestions_titled reads it
    back for the holder (invariant 9)."""

    class Kind(models.TextChoices):
        COLLAGE = "collage", "Collage"
        RECAP = "recap", "Recap"
        STYLIZED = "stylized", "Stylised image"

    class Status(models.TextChoices):
        NEW = "new", "New"
        ACCEPTED = "accepted", "Shared"
        DISMISSED = "dismissed", "Dismissed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="suggestions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    source_count = models.PositiveIntegerField()
    # Null only once dismissed: the output (and the title sealed on it) is deleted then, and the
    # row stays as the memory that stops the next run from making the same thing again.
    output = models.ForeignKey("vault.DerivedOutput", on_delete=models.CASCADE, null=True, related_name="+")
    # A recap's H.264 MP4, beside its animated WebP (output): made from the same photos.
    video_output = models.ForeignKey(
        "vault.DerivedOutput", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    idempotency_key = models.CharField(max_length=64, help_text="sha256 of kind, group and style; no content.")
    job = models.ForeignKey("SuggestionJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "idempotency_key"], name="suggestion_once_per_owner_and_key"),
            models.CheckConstraint(
                condition=models.Q(output__isnull=False) | models.Q(status="dismissed"),
                name="suggestion_output_unless_dismissed",
            ),
        ]
        indexes = [models.Index(fields=["owner", "status", "-created_at"], name="suggestion_owner_status")]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} of user {self.owner_id}"


class SuggestionJob(models.Model):
    """One generation pass for one holder: a job (core.jobs) the job worker runs, or run at once by
    `manage.py suggestions_generate`."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        DISCARDED = "discarded", "Discarded: consent changed while it ran"
        SKIPPED = "skipped", "Skipped: the feature is off"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        REQUEST = "request", "Asked for by the holder"
        UPLOAD = "upload", "After uploads"
        COMMAND = "command", "Management command"

    FINISHED = (Status.DONE, Status.DISCARDED, Status.SKIPPED, Status.FAILED)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="suggestion_jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.REQUEST)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0-100")
    run_after = models.DateTimeField(help_text="Debounce: not started before this moment.")
    created_count = models.PositiveIntegerField(default=0)
    discarded_count = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # A running pass writes its progress as it goes, outside its holder's lock (bookkeeping that
    # core.guard lets pass); its claim and its end are written in the holder's unit of work.
    UNIT_EXEMPT_FIELDS = ("progress",)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "status"], name="suggestionjob_owner_status")]
        constraints = [
            # Requests and uploads join the queued pass instead of stacking up more.
            models.UniqueConstraint(
                fields=["owner"], condition=models.Q(status="queued"), name="suggestionjob_one_queued_per_owner"
            )
        ]

    def __str__(self) -> str:
        return f"job {self.pk} of user {self.owner_id}: {self.status}"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED


class Person(models.Model):
    """Someone who appears in the holder's photos, found by face grouping (face_analysis only).

    Nothing here says who it is or what they look like in the clear: the name the holder gives
    is sealed under the account's faces key (vault.gateway.faces_sealing), and which photos show
    them is sealed on the FaceScan rows. The row points at that key, so withdrawing face_analysis
    or erasing (which shred the key) deletes it (invariant 11)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="people")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key = models.ForeignKey("vault.AccountKey", on_delete=models.CASCADE, related_name="+")
    sealed_name = models.BinaryField(null=True, blank=True)
    hidden = models.BooleanField(default=False)
    # A person merged into another keeps pointing there, so faces sealed with its id follow.
    merged_into = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["owner", "merged_into"], name="person_owner_merged")]

    def __str__(self) -> str:
        return f"person {self.pk} of user {self.owner_id}"


class FaceScan(models.Model):
    """The faces found in one photo: boxes (fractions of the picture), 128-number embeddings
    and the person each belongs to, sealed as one value under the account's faces key. A scan
    that found nothing is kept too (empty), so a photo is analysed once.

    Goes with the photo (its deletion) and with the faces key (withdrawal, erase)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="face_scans")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    item = models.OneToOneField("vault.MediaItem", on_delete=models.CASCADE, related_name="+")
    key = models.ForeignKey("vault.AccountKey", on_delete=models.CASCADE, related_name="+")
    sealed = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"face scan of item {self.item_id}"


class ShareLink(models.Model):
    """An unguessable link to one suggestion's output that anyone can open without an account,
    until it expires (SHARE_LINK_DAYS), is revoked, or the suggestion goes (dismissed, deleted
    with a source, or every suggestion at withdrawal: the row goes with it).

    Only a hash of the token is kept: the link itself is shown to the holder once."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="share_links")
    suggestion = models.ForeignKey(Suggestion, on_delete=models.CASCADE, related_name="share_links")
    token_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of the link's token.")
    # What the recipient's page calls the sharer, as the holder typed it for this link ("" = someone):
    # the page shows this and nothing else of the account.
    display_name = models.CharField(max_length=60, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    opens = models.PositiveIntegerField(default=0)
    last_opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"share link {self.pk} of suggestion {self.suggestion_id}"
