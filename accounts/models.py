from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person with an account: a holder, an auditor or a support agent (roles are groups)."""

    class Meta:
        db_table = "accounts_user"


class ApiToken(models.Model):
    """One signed-in device's API token. Only a SHA-256 digest of the secret is stored; the token
    also dies when it expires, when its device signs out, and when the password changes (the
    password stamp no longer matches)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100, help_text="the device, as the client named it")
    password_stamp = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    # A token in use pushes these back on its own (accounts.tokens.token_authenticate): bookkeeping,
    # not a change to the account, so core.guard lets an update of only these pass outside a unit.
    UNIT_EXEMPT_FIELDS = ("last_used_at", "expires_at")

    class Meta:
        db_table = "accounts_api_token"
        indexes = [models.Index(fields=["user", "-last_used_at"], name="api_token_user_used")]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"
