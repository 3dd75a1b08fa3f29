from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

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


@register(Tags.security, deploy=True)
def check_forwarded_proto_trust(app_configs, **kwargs):
    """X-Forwarded-Proto is believed only from TRUSTED_PROXIES (consentsvc.middleware): with none set,
    a site behind a proxy that ends TLS would see every request as plain HTTP and redirect it forever."""
    proxies = settings.TRUSTED_PROXIES_PARSED
    if (getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and settings.SECURE_SSL_REDIRECT
            and not (proxies.count or proxies.networks)):
        return [
            Warning(
                "SECURE_SSL_REDIRECT is on but TRUSTED_PROXIES is empty, so X-Forwarded-Proto is ignored: "
                "behind a proxy that ends TLS, every request is redirected to HTTPS again.",
                hint="Set TRUSTED_PROXIES to the proxies' count or networks (or serve TLS in gunicorn itself).",
                id="consentsvc.W001",
            )
        ]
    return []
