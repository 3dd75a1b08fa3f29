"""Operators can see support cases and exports in the admin, but not change them.

Opening, closing and acting on a case go through support.services (rights granted and
removed, every step audited); an edit here would bypass both. Exports show their
state only: the zip itself is encrypted in the vault and never served from here.
"""

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from support.models import DataExport, SubjectUserObjectPermission, SupportAction, SupportCase


class SupportActionInline(admin.TabularInline):
    model = SupportAction
    fields = ["kind", "purpose", "reason", "created_at", "changed", "counts"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SupportCase)
class SupportCaseAdmin(ReadOnlyAdmin):
    list_display = ["id", "agent", "subject", "ticket", "opened_at", "expires_at", "closed_at", "closed_how"]
    list_filter = ["closed_how"]
    search_fields = ["=id", "ticket", "agent__username", "subject__username"]
    fields = ["agent", "subject", "ticket", "reason", "opened_at", "expires_at", "closed_at", "closed_how"]
    inlines = [SupportActionInline]
    list_select_related = ["agent", "subject"]


@admin.register(SubjectUserObjectPermission)
class SubjectPermissionAdmin(ReadOnlyAdmin):
    """The object permissions open cases grant right now (rows exist only while a case is open)."""

    list_display = ["user", "permission", "content_object"]
    list_select_related = ["user", "permission", "content_object"]


@admin.register(DataExport)
class DataExportAdmin(ReadOnlyAdmin):
    list_display = ["id", "holder", "status", "created_at", "finished_at", "expires_at", "size", "item_count"]
    list_filter = ["status"]
    fields = ["id", "holder", "status", "created_at", "finished_at", "expires_at", "size", "item_count",
              "error_code"]
    list_select_related = ["holder"]
