from audit import checks
from core import signing


def test_it_accepts_the_configured_key_and_origin():
    assert checks.check_signing_key(None) == []
    assert checks.check_origin(None) == []
    assert checks.check_database_vendor(None) == []


def test_it_refuses_a_key_that_is_not_ed25519(settings):
    settings.AUDIT_SIGNING_KEY = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"
    signing.private_key.cache_clear()
    try:
        assert [e.id for e in checks.check_signing_key(None)] == ["audit.E001"]
    finally:
        signing.private_key.cache_clear()


def test_it_refuses_an_origin_with_spaces(settings):
    settings.AUDIT_CHECKPOINT_ORIGIN = "my audit log"
    assert [e.id for e in checks.check_origin(None)] == ["audit.E003"]


def test_it_accepts_the_development_mac_key():
    assert checks.check_mac_key(None) == []


def test_it_requires_a_mac_key_in_production(settings):
    settings.PRODUCTION = True
    settings.AUDIT_MAC_KEY = None
    assert [e.id for e in checks.check_mac_key(None)] == ["audit.E004"]


def test_it_refuses_a_short_mac_key(settings):
    settings.AUDIT_MAC_KEY = "too short"
    assert [e.id for e in checks.check_mac_key(None)] == ["audit.E004"]
    settings.AUDIT_MAC_KEY = "x" * 32
    assert checks.check_mac_key(None) == []
