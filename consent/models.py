import uuid

from django.conf import settings
from django.db import models

from consent import purposes


class Notice(models.Model):
    """One version of the text a holder is shown before they consent to a purpose."""

    purpose = models.CharField(max_length=64, choices=[(p, p) for p in purposes.GRANTABLE])
    version = models.CharField(max_length=32)
    title = models.CharField(max_length=200)
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    material = models.BooleanField(default=True, help_text="A material change makes earlier consent lapse.")
    published_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["purpose", "version"], name="consent_notice_unique_version")]
        ordering = ["purpose", "-published_at", "-id"]

    def __str__(self) -> str:
        return f"{self.purpose} v{self.version}"


class ImmutableQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("the consent ledger is append-only: entries are never updated")

    def delete(self):
        raise TypeError("the consent ledger is append-only: entries are never deleted")


class ConsentEntry(models.Model):
    """One event in the append-only consent ledger (ISO/IEC TS 27560 record fields)."""

    class Event(models.TextChoices):
        GIVEN = "given"
        WITHDRAWN = "withdrawn"
        LAPSED = "lapsed"
        REVOKED_BY_SUPPORT = "revoked_by_support"

    class Method(models.TextChoices):
        WEB = "web"
        API = "api"
        SUPPORT = "support"
        SYSTEM = "system"

    record_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subject = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consent_entries")
    purpose = models.CharField(max_length=64)
    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, related_name="+")
    notice_version = models.CharField(max_length=32)
    notice_sha256 = models.CharField(max_length=64)
    event = models.CharField(max_length=24, choices=Event.choices)
    created_at = models.DateTimeField()
    method = models.CharField(max_length=16, choices=Method.choices)
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64)
    jurisdiction = models.CharField(max_length=16)
    retention = models.CharField(max_length=32, help_text="ISO 8601 duration the record is kept for.")
    case_id = models.BigIntegerField(null=True, blank=True)
    # The audit event that records this entry; the event commits to the entry's digest
    # (consent.binding). An entry without a genuine event that does never counts.
    event_id = models.UUIDField(null=True, blank=True, unique=True)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["subject", "purpose", "-id"], name="consent_entry_state_idx")]
        ordering = ["-id"]
        verbose_name_plural = "consent entries"

    def __str__(self) -> str:
        return f"{self.record_id} {self.event} {self.purpose}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("the consent ledger is append-only: entries are never updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("the consent ledger is append-only: entries are never deleted")


class AccountLock(models.Model):
    """One row per account: the lock every account write takes first (consent.uow.account_write).

    Not the auth user row, so logins and password changes never queue behind a shred.
    Created the first time the account is written.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
                                related_name="+")

    def __str__(self) -> str:
        return f"lock of account {self.user_id}"


class ConsentState(models.Model):
    """The newest ledger entry of one holder for one purpose, kept in the entry's own transaction.

    A copy for fast reads, never a source of its own: it is written only next to the
    ledger entry it names, and every field is the entry's (the database refuses any other
    write, consent.guards). What it says counts only when it names the trail's newest genuine
    consent event for the holder and purpose (consent.binding.states_bound).
    """

    subject = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=64)
    entry = models.ForeignKey(ConsentEntry, on_delete=models.PROTECT, related_name="+")
    event = models.CharField(max_length=24, choices=ConsentEntry.Event.choices)
    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, related_name="+")
    notice_version = models.CharField(max_length=32)
    since = models.DateTimeField()
    event_id = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subject", "purpose"], name="consent_state_one_per_purpose")]

    def __str__(self) -> str:
        return f"{self.subject_id} {self.purpose} {self.event}"
