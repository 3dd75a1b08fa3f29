import uuid

from django.conf import settings
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class SupportCase(models.Model):
    """One agent's time-limited mandate to act on one account.

    The reason is free text typed by the agent: it stays here and never goes
    into the audit trail (invariant 7); the audit events carry the case id.
    """

    ACCOUNT_FIELD = "subject"  # core.guard: a case is written in its subject's unit of work, not its agent's

    class Closed(models.TextChoices):
        BY_AGENT = "closed", "closed by the agent"
        EXPIRED = "expired", "expired"

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="support_cases_handled")
    subject = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="support_cases")
    reason = models.TextField(max_length=2000)
    ticket = models.CharField(max_length=64)
    opened_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_how = models.CharField(max_length=16, choices=Closed.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "subject"],
                condition=models.Q(closed_at__isnull=True),
                name="support_one_open_case_per_agent_and_subject",
            ),
        ]
        indexes = [models.Index(fields=["closed_at", "expires_at"], name="support_case_open_idx")]
        ordering = ["-opened_at", "-id"]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.ticket})"


class SupportAction(models.Model):
    """What an agent did inside a case, with the reason they gave."""

    class Kind(models.TextChoices):
        REVOKE = "revoke"
        ERASE = "erase"

    case = models.ForeignKey(SupportCase, on_delete=models.PROTECT, related_name="actions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    purpose = models.CharField(max_length=64, blank=True)
    reason = models.TextField(max_length=2000)
    created_at = models.DateTimeField()
    changed = models.BooleanField(help_text="False when there was nothing to revoke or erase.")
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} in case {self.case_id}"


class SupportNotice(models.Model):
    """Tells the holder about one support action: on their settings page until dismissed, and by email."""

    holder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="support_notices")
    action = models.OneToOneField(SupportAction, on_delete=models.CASCADE, related_name="notice")
    created_at = models.DateTimeField()
    seen_at = models.DateTimeField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["holder", "dismissed_at"], name="support_notice_holder_idx")]

    def __str__(self) -> str:
        return f"notice of {self.action}"


class SupportCaseNote(models.Model):
    """An agent's working note on a case: free text, so it stays here, never in the audit trail."""

    ACCOUNT_FIELD = "case__subject"  # core.guard: written in the unit of the case's subject, not its author's

    case = models.ForeignKey(SupportCase, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=4000)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note on case {self.case_id}"


# django-guardian object permissions on accounts, with direct foreign keys
# (guardian's generic tables key objects by a text column and a content type,
# which is slow on large tables). Rows exist only while a case is open.
class SubjectUserObjectPermission(UserObjectPermissionBase):
    ACCOUNT_FIELD = "content_object"  # core.guard: an agent's grant on a subject is the subject's row

    content_object = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="support_grants_received"
    )

    class Meta(UserObjectPermissionBase.Meta):
        unique_together = ["user", "permission", "content_object"]
        verbose_name = "support permission on an account"


class SubjectGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="support_group_grants_received"
    )

    class Meta(GroupObjectPermissionBase.Meta):
        unique_together = ["group", "permission", "content_object"]
        verbose_name = "support group permission on an account"


class DataExport(models.Model):
    """A holder's 'download everything' zip (GDPR Art. 15/20), built in the background.

    The zip itself lives in the vault, encrypted under the holder's key; this
    row only says where it is, how far the build got, and when it goes.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    blob_id = models.CharField(max_length=64, blank=True, help_text="The vault's id for the encrypted zip.")
    size = models.BigIntegerField(default=0)
    item_count = models.IntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="support_export_expiry_idx")]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"
