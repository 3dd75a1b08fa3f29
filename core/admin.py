from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that only services may write (ledgers, trails, cases): the admin shows, never edits."""

    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
