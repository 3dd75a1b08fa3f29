"""Operators can read the trail in the admin; nobody can add, change or delete an event there.

(Registered by the support engineer for the admin hardening of issue 6; the ORM and
the database triggers refuse changes anyway.) The canonical bytes and hashes stay
out of the pages: `audit_verify` and the auditor export are where the chain is checked.
"""

from django.contrib import admin

from audit.models import AuditCheckpoint, AuditEvent
from core.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "time", "actor_kind", "actor_id", "action", "subject_id", "purpose", "outcome"]
    list_filter = ["outcome", "actor_kind", "action"]
    search_fields = ["=seq", "=subject_id", "=actor_id", "action", "=request_id"]
    fields = ["seq", "time", "actor_kind", "actor_id", "action", "subject_id", "object_type", "object_id",
              "purpose", "outcome", "request_id", "details", "prev_hash", "hash"]
    show_full_result_count = False


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["tree_size", "root_hash", "created_at"]
    fields = ["tree_size", "root_hash", "note", "created_at"]
