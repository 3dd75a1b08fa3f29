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
