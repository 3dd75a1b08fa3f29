from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from audit.keys import MIN_KEY_CHARS, mac_key
from audit.notes import NoteError, cosigner_from_vkey
from core import signing


@register(Tags.security)
def check_signing_key(app_configs, **kwargs):
    """A bad key should stop the start, not the first audited action."""
    if not settings.AUDIT_SIGNING_KEY and settings.PRODUCTION:
        return []  # consentsvc.E002 already says it is missing
    try:
        signing.private_key("AUDIT_SIGNING_KEY")
    except (ImproperlyConfigured, ValueError, TypeError) as exc:
        return [Error(f"AUDIT_SIGNING_KEY cannot be used: {exc}",
                      hint="Give an Ed25519 private key in PEM (PKCS#8), or AUDIT_SIGNING_KEY_FILE.",
                      id="audit.E001")]
    return []


@register(Tags.database)
def check_database_vendor(app_configs, **kwargs):
    vendor = connections["default"].vendor
    if vendor not in ("sqlite", "postgresql"):
        return [Error(f"The audit trail's append-only triggers exist for SQLite and PostgreSQL, not {vendor}.",
                      id="audit.E002")]
    return []


@register()
def check_origin(app_configs, **kwargs):
    origin = settings.AUDIT_CHECKPOINT_ORIGIN or ""
    if not origin.strip() or "\n" in origin or " " in origin:
        return [Error("AUDIT_CHECKPOINT_ORIGIN must be one word naming this log, e.g. example.org/audit.",
                      id="audit.E003")]
    return []


@register(Tags.security)
def check_mac_key(app_configs, **kwargs):
    """Events are MAC'd under a key the database never holds; without it nothing can be appended."""
    if not getattr(settings, "AUDIT_MAC_KEY", None) and settings.PRODUCTION:
        return [Error("AUDIT_MAC_KEY is required in production: every audit event carries a MAC under it.",
                      hint=f"Give a random secret of at least {MIN_KEY_CHARS} characters in AUDIT_MAC_KEY or "
                           "AUDIT_MAC_KEY_FILE, kept outside the database.",
                      id="audit.E004")]
    try:
        mac_key()
    except ImproperlyConfigured as exc:
        return [Error(f"AUDIT_MAC_KEY cannot be used: {exc}", id="audit.E004")]
    return []


@register()
def check_witnesses(app_configs, **kwargs):
    errors = []
    for vkey in settings.AUDIT_WITNESSES:
        try:
            cosigner_from_vkey(vkey)
        except (NoteError, ValueError) as exc:
            errors.append(Error(f"AUDIT_WITNESSES: {exc}",
                                hint="tools/witness.py init prints a witness's key in the right form.",
                                id="audit.E005"))
    return errors
