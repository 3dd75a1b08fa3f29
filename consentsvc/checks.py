from django.conf import settings
from django.core.checks import Error, Tags, register

WEAK_SECRET_MARKERS = ("django-insecure", "changeme", "secret")


@register(Tags.security, deploy=True)
def check_secret_key(app_configs, **kwargs):
    key = settings.SECRET_KEY or ""
    if settings.PRODUCTION and (
        len(key) < 50 or len(set(key)) < 10 or any(m in key.lower() for m in WEAK_SECRET_MARKERS)
    ):
        return [
            Error(
                "SECRET_KEY is weak: use at least 50 random characters.",
                hint="python -c 'import secrets; print(secrets.token_urlsafe(64))'",
                id="consentsvc.E001",
            )
        ]
    return []


@register(Tags.security)
def check_signing_keys(app_configs, **kwargs):
    errors = []
    if settings.PRODUCTION:
        for name in ("RECEIPT_SIGNING_KEY", "AUDIT_SIGNING_KEY"):
            if not getattr(settings, name):
                errors.append(
                    Error(
                        f"{name} (or {name}_FILE) is required in production.",
                        hint="python manage.py generate_signing_key",
                        id="consentsvc.E002",
                    )
                )
    return errors
