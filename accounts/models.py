from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person with an account: a holder, an auditor or a support agent (roles are groups)."""

    class Meta:
        db_table = "accounts_user"
