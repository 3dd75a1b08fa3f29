from django.conf import settings
from django.db import models


class AccountLock(models.Model):
    """One row per account: the lock every account write takes first (core.uow.account_write).

    Not the auth user row, so logins and password changes never queue behind a shred.
    Created the first time the account is written.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
                                related_name="+")

    class Meta:
        db_table = "consent_accountlock"  # where it was created (consent 0004); moved without a copy

    def __str__(self) -> str:
        return f"lock of account {self.user_id}"


class JobLease(models.Model):
    """A job's hold on the row it works on (core.jobs): from the moment it is queued (`queued_at`,
    the time it was due to start) until a worker starts it, then while it runs (`held`, alive while
    its heartbeat renews it). One row per job, so a job lost from the queue and a job whose worker
    died are both found here, by the one sweep (core.jobs.jobs_recover)."""

    kind = models.CharField(max_length=200)  # the job's path
    object_id = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    # False once its job was handed back to the queue after a crash: the row only counts attempts.
    held = models.BooleanField(default=True)
    # Set when the job is queued (to the moment it is due), cleared when a worker starts it: a job
    # queued but never started by its deadline was lost from the queue.
    queued_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        db_table = "consentsvc_job_lease"  # where it was created (consentsvc 0001); moved without a copy
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="job_lease_one_per_job")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.object_id} until {self.expires_at:%H:%M:%S}"
