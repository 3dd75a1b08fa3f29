from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User


@admin.register(User)
class AccountAdmin(UserAdmin):
    """Operators give the auditor and support roles here through the user's groups."""

    list_display = ["username", "email", "is_active", "is_staff", "role_names", "date_joined"]
    list_filter = ["groups", "is_active", "is_staff"]

    @admin.display(description="roles")
    def role_names(self, obj) -> str:
        return ", ".join(sorted(group.name for group in obj.groups.all()))

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")
