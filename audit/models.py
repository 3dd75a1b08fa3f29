import json

from django.db import models
from django.db.models import signals
from django.db.models.base import ModelState

from audit.canonical import ACTOR_KINDS, GENESIS_HASH, OUTCOMES
from audit.integrity import event_is_genuine
from audit.keys import mac_key


class AuditImmutableError(RuntimeError):
    """Audit rows are written once, by audit.services, and never changed or deleted."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditImmutableError(f"{self.model.__name__} rows cannot be updated")

    def delete(self):
        raise AuditImmutableError(f"{self.model.__name__} rows cannot be deleted")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditImmutableError(f"{self.model.__name__} rows cannot be updated")

    def update_or_create(self, *args, **kwargs):
        raise AuditImmutableError(f"{self.model.__name__} rows cannot be updated")

    _raw_delete = delete


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditImmutableError(f"{type(self).__name__} rows cannot be updated")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditImmutableError(f"{type(self).__name__} rows cannot be deleted")


class AuditEventQuerySet(AppendOnlyQuerySet):
    """Model instances come out only for genuine events (audit.integrity): a row written into the
    table without the service's MAC key is never shown as an event. Counts and values() read
    the table as it is; audit_verify reports what is not genuine, by seq."""

    def _fetch_all(self):
        fetched = self._result_cache is None
        super()._fetch_all()
        if fetched and self._iterable_class is models.query.ModelIterable:
            self._result_cache = _genuine_only(self._result_cache)

    def iterator(self, chunk_size=None):
        rows = super().iterator(chunk_size=chunk_size)
        if self._iterable_class is not models.query.ModelIterable:
            return rows
        return (event for event in rows if _genuine(event))


def _genuine(event) -> bool:
    return event_is_genuine(event)


def _genuine_only(events: list) -> list:
    key = mac_key()
    return [event for event in events if event_is_genuine(event, key)]


class AuditEvent(AppendOnlyModel):
    """One event of the trail. `canonical` holds the exact bytes that were hashed; the other
    columns repeat them for querying, and audit_verify checks that they agree."""

    seq = models.BigIntegerField(primary_key=True)
    time = models.DateTimeField()
    actor_kind = models.CharField(max_length=16, choices=[(k, k) for k in ACTOR_KINDS])
    actor_id = models.CharField(max_length=128, blank=True)
    action = models.CharField(max_length=64)
    subject_id = models.BigIntegerField(null=True, blank=True)
    object_type = models.CharField(max_length=128, blank=True)
    object_id = models.CharField(max_length=128, blank=True)
    purpose = models.CharField(max_length=128, blank=True)
    outcome = models.CharField(max_length=8, choices=[(o, o) for o in OUTCOMES])
    request_id = models.CharField(max_length=128, blank=True)
    details = models.JSONField(default=dict, blank=True)
    canonical = models.BinaryField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # A UUID chosen before the event is appended, so a record elsewhere (a consent entry) can
    # name its event in the same transaction. Part of the canonical bytes.
    event_id = models.CharField(max_length=36, null=True, blank=True)
    # HMAC-SHA256 under the audit MAC key, which the database never holds (audit.keys).
    mac = models.CharField(max_length=64, null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()
    # Every row as stored, genuine or not: for verification and tamper tests.
    unchecked = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["event_id"], condition=models.Q(event_id__isnull=False),
                                    name="audit_event_event_id_unique"),
        ]
        indexes = [
            models.Index(fields=["subject_id", "seq"], name="audit_event_subject_seq"),
            # The newest events of a holder about one kind of object (audit_newest: the consent
            # read path asks on every upload and release, past however many reads came since).
            models.Index(fields=["subject_id", "object_type", "seq"], name="audit_event_subject_object"),
            models.Index(fields=["time"], name="audit_event_time"),
            models.Index(fields=["action", "seq"], name="audit_event_action_seq"),
            models.Index(fields=["actor_kind", "actor_id"], name="audit_event_actor"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}"

    @property
    def details_text(self) -> str:
        """The details as `key=value` pairs, for pages (templates cannot loop over a dict that
        has an "items" key: Django looks the key up before the method)."""
        details = self.details if isinstance(self.details, dict) else {}
        return " ".join(
            f"{key}={json.dumps(value, separators=(',', ':')) if isinstance(value, dict | list) else value}"
            for key, value in details.items()
        )


def built_event(values: list, db: str | None = None) -> AuditEvent:
    """An AuditEvent from its column values in field order, as if read from the database, without
    Model.__init__'s per-field work: appends build one per event (AuditEvent has no init signal
    receivers; if one is ever connected, the ordinary constructor runs)."""
    return built_events([values], db)[0]


def built_events(rows: list[list], db: str | None = None) -> list[AuditEvent]:
    """built_event for many rows, looking for init signal receivers once."""
    if signals.pre_init.has_listeners(AuditEvent) or signals.post_init.has_listeners(AuditEvent):
        events = [AuditEvent(*values) for values in rows]
        for event in events:
            event._state.adding, event._state.db = False, db
        return events
    new, names, events = object.__new__, _EVENT_ATTNAMES, []
    for values in rows:
        event = new(AuditEvent)
        event.__dict__.update(zip(names, values, strict=True))
        state = event._state = ModelState()
        state.adding, state.db = False, db
        events.append(event)
    return events


_EVENT_ATTNAMES = [f.attname for f in AuditEvent._meta.concrete_fields]


class AuditHead(models.Model):
    """The single row that serialises appends: its lock is the chain head.

    It holds the size and last hash of the chain and the Merkle compact range
    (the roots of the perfect subtrees on the right edge), so roots and
    checkpoints never need to read the whole log.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    compact_range = models.BinaryField(default=b"")

    def __str__(self) -> str:
        return f"audit head at {self.size}"


class AuditCheckpoint(AppendOnlyModel):
    """A signed C2SP tlog-checkpoint note over the first `tree_size` events."""

    tree_size = models.BigIntegerField(primary_key=True)
    root_hash = models.CharField(max_length=64)
    note = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["tree_size"]

    def __str__(self) -> str:
        return f"checkpoint at {self.tree_size}"


class AuditTile(AppendOnlyModel):
    """A full C2SP tlog-tile: 256 consecutive hashes at height 8 * level, stored when it fills
    (audit.tiles), and the root of the perfect subtree over them (an entry of the level above)."""

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hashes = models.BinaryField()
    root = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="audit_tile_level_index")]

    def __str__(self) -> str:
        return f"tile {self.level}/{self.index}"


class AuditCosignature(AppendOnlyModel):
    """A witness's C2SP tlog-cosignature on the checkpoint at `tree_size`: the witness checked that
    this tree extends every earlier one it saw. audit_verify fails when the trail no longer extends
    a witnessed checkpoint."""

    tree_size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    witness = models.CharField(max_length=255)
    timestamp = models.BigIntegerField(help_text="When the witness signed (POSIX seconds), from the signature.")
    line = models.TextField(help_text="The signature line, as it is added to the checkpoint note.")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["tree_size", "witness"]
        constraints = [models.UniqueConstraint(fields=["tree_size", "witness"], name="audit_cosignature_once")]

    def __str__(self) -> str:
        return f"cosignature by {self.witness} at {self.tree_size}"


class AuditVerification(models.Model):
    """One full verification of the trail, run as a background job; the page shows the latest.

    Not part of the trail: a record of when the chain was last checked, how far, and the result.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"  # the job itself broke (not: the chain is bad; that is done with ok=False)

    requested_by = models.CharField(max_length=128, blank=True, help_text="The auditor's user id.")
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    total = models.BigIntegerField(default=0, help_text="Events in the trail when the job started.")
    checked = models.BigIntegerField(default=0, help_text="Events checked so far, then in the end.")
    checkpoints = models.IntegerField(default=0)
    ok = models.BooleanField(null=True)
    first_bad_seq = models.BigIntegerField(null=True, blank=True)
    problem = models.TextField(blank=True)
    root_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"verification {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.checked / self.total)) if self.total else 0

    @property
    def active(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.RUNNING)


class AuditOutbox(models.Model):
    """The queue: entries written, MAC'd, by request transactions, waiting to be sequenced and
    integrated (audit.outbox). Rows leave as they are integrated or set aside."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.CharField(max_length=36, unique=True)
    body = models.BinaryField(help_text="The entry's bytes (audit.canonical.encode_entry).")
    mac = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"pending audit event {self.event_id}"


class AuditSetAside(AppendOnlyModel):
    """An entry integration refused (its MAC did not verify, its bytes are not an entry, or its event
    id is already in the trail): never integrated, kept here as it was found, with the reason. Each
    one is raised as an `audit.entry_set_aside` event, and audit_verify fails until an operator
    acknowledges it (manage.py audit_acknowledge, an `audit.set_aside_acknowledged` event).

    Also an entry found in the tree whose MAC does not verify: a process with the database and the
    service's code but another MAC key integrated it there itself, inline. Before it signs, the
    checkpointer rewinds the unsigned tail and integrates its genuine entries again without it
    (audit.rewind), so no signed checkpoint ever holds it; it is set aside then, with no `seq` (its
    old position is in its alarm's details). A row with `seq` was set aside where it sat by an older
    version of the service (before the rewind existed); it counts as in the tree only while the event
    at that seq still has its leaf hash."""

    class Reason(models.TextChoices):
        MAC_INVALID = "mac_invalid"
        NOT_AN_ENTRY = "not_an_entry"
        EVENT_ID_TAKEN = "event_id_taken"

    id = models.BigAutoField(primary_key=True)
    queued_id = models.BigIntegerField(help_text="Its id in the queue (audit_auditoutbox).")
    seq = models.BigIntegerField(null=True, blank=True,
                                 help_text="Where it sits in the tree, when another process integrated it there; "
                                           "empty when integration refused it.")
    event_id = models.TextField(blank=True)
    body = models.BinaryField()
    mac = models.TextField(blank=True)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    set_aside_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"set-aside entry {self.pk} ({self.reason})"


class AuditTailRewind(models.Model):
    """Present only inside the checkpointer's transaction while it rewinds the unsigned tail (audit.rewind):
    the DELETE guards of the trail's tables let rows past the latest signed checkpoint go only while a
    row is here (audit.triggers). audit_verify fails when one is left outside a transaction."""

    id = models.BigAutoField(primary_key=True)
    from_size = models.BigIntegerField()
    to_size = models.BigIntegerField()

    def __str__(self) -> str:
        return f"tail rewind {self.from_size} -> {self.to_size}"


# -- holder logs (audit.holder_logs, docs/holder-log.md) ------------------------------------------


class HolderLog(models.Model):
    """The head of one holder's log: the global entries whose subject_id is this holder, in global
    order. Moved by integration, in the transaction that integrates the global entries."""

    subject_id = models.BigIntegerField(primary_key=True)
    log_id = models.CharField(max_length=32, unique=True, help_text="The opaque id its origin names.")
    size = models.BigIntegerField(default=0)
    compact_range = models.BinaryField(default=b"")
    signed_size = models.BigIntegerField(default=0, help_text="The size of its newest holder checkpoint.")
    appended = models.TextField(default="", db_default="", help_text="The global seqs integration last appended, "
                                "as a JSON list: the database writes them as the log's last entries (audit.triggers).")

    def __str__(self) -> str:
        return f"holder log {self.log_id} at {self.size}"


class HolderLogEntry(AppendOnlyModel):
    """Entry `index` of a holder's log is the global event `seq` (same bytes, same leaf hash)."""

    pk = models.CompositePrimaryKey("subject_id", "index")
    subject_id = models.BigIntegerField()
    index = models.BigIntegerField()
    seq = models.BigIntegerField()

    def __str__(self) -> str:
        return f"holder {self.subject_id} entry {self.index} = #{self.seq}"


class HolderLogTile(AppendOnlyModel):
    """A full C2SP tlog-tile of a holder's log, as AuditTile is of the global one."""

    pk = models.CompositePrimaryKey("subject_id", "level", "index")
    subject_id = models.BigIntegerField()
    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hashes = models.BinaryField()
    root = models.BinaryField()

    def __str__(self) -> str:
        return f"holder {self.subject_id} tile {self.level}/{self.index}"


class HolderCheckpoint(AppendOnlyModel):
    """A signed checkpoint of a holder's log, and the `audit.holder_head` event that commits it into
    the global trail."""

    pk = models.CompositePrimaryKey("subject_id", "tree_size")
    subject_id = models.BigIntegerField()
    tree_size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    note = models.TextField()
    head_event_id = models.CharField(max_length=36)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"holder {self.subject_id} checkpoint at {self.tree_size}"
