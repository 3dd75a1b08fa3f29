from django.db import models


class JobLease(models.Model):
    """A running job's hold on its row (see consentsvc.jobs): alive while its heartbeat renews it."""

    kind = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    # False once its job was handed back to the queue after a crash: the row only counts attempts.
    held = models.BooleanField(default=True)

    class Meta:
        db_table = "consentsvc_job_lease"
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="job_lease_one_per_job")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.object_id} until {self.expires_at:%H:%M:%S}"
