from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.http import HttpResponseRedirect
from django.urls import reverse

from accounts.models import User
from accounts.services import ROLE_GRANTED, ROLE_REVOKED
from core import uow
from core.uow import Actor, account_write


@admin.register(User)
class AccountAdmin(UserAdmin):
    """Operators give the auditor and support roles here through the user's groups.

    A change to an account is saved in its unit of work (the admin's own transaction would be a
    foreign one), and each role given or taken away is audited, as `manage.py grant_role` does.

    Accounts are not deleted here: Django's cascade would remove the holder's rows (keys, media
    rows, consent state) outside any unit of work, with no audit event and no crypto-shredding.
    Cloud data is erased through the erase service (the holder's own "Erase" page, or
    `support_erase` in a support case); an operator stops an account by unticking "active"."""

    DELETE_REFUSED = ("Accounts cannot be deleted in the admin: deleting the row would remove the holder's data "
                      "outside the unit of work, unaudited and not crypto-shredded. Erase the cloud data through "
                      "the erase service (the holder's Erase page, or a support case's erase), and untick "
                      "\"Active\" here to stop the account signing in.")

    list_display = ["username", "email", "is_active", "is_staff", "role_names", "date_joined"]
    list_filter = ["groups", "is_active", "is_staff"]

    @admin.display(description="roles")
    def role_names(self, obj) -> str:
        return ", ".join(sorted(group.name for group in obj.groups.all()))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # no delete button, no "delete selected" action

    def delete_view(self, request, object_id, extra_context=None):
        messages.error(request, self.DELETE_REFUSED)
        return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[object_id]))

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is None or request.method != "POST" or not str(object_id).isdigit():
            return super().changeform_view(request, object_id, form_url, extra_context)
        with account_write(user_id=int(object_id), actor=Actor.system("admin")):
            return self._changeform_view(request, object_id, form_url, extra_context)

    def save_related(self, request, form, formsets, change):
        user = form.instance
        before = set(user.groups.values_list("name", flat=True)) if change else set()
        super().save_related(request, form, formsets, change)
        unit = uow.current()
        if unit is None:  # a new account: its form sets no groups
            return
        after = set(user.groups.values_list("name", flat=True))
        unit.record_many(
            [unit.event(action=ROLE_GRANTED, object_type="role", object_id=name) for name in sorted(after - before)]
            + [unit.event(action=ROLE_REVOKED, object_type="role", object_id=name) for name in sorted(before - after)]
        )
        user.__dict__.pop("_role_cache", None)
