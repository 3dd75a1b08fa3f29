"""Fixtures every test folder shares: the four people of the product and API clients for them."""

import os

import pytest
from rest_framework.test import APIClient

from accounts import services, tokens
from accounts.roles import AUDITOR, HOLDER, SUPPORT

# s3_server and s3_bucket: an S3 endpoint over HTTP (tests/s3.py).
pytest_plugins = ["tests.s3"]

PASSWORD = "a-long-test-password-42"


def _move_the_clock():
    """TEST_CLOCK_AT=2027-12-31T23:59:50Z runs the tests with the clock moved to that instant, and
    ticking from there: timezone.now(), datetime.now(), date.today() and time.time() in the product
    and in the tests (not in subprocesses, nor the database's own clock). A test that passes today and
    fails on another day, at midnight, at the end of a month or a year reads the wall clock somewhere
    where it should take `now`. Started here, as this file is imported, so that the conftest files
    below it see the moved clock too. freezegun is pinned in requirements-dev.txt;
    it is loaded only here."""
    at = os.environ.get("TEST_CLOCK_AT")
    if not at:
        return None
    import freezegun

    # The same moved clock in every thread: freezegun's default ignore list ("threading", ...) gives the
    # real clock to code near the bottom of a thread's stack (a watchdog's time.monotonic()).
    freezegun.configure(default_ignore_list=["_pytest.timing"])
    clock = freezegun.freeze_time(at, tick=True)
    return clock, clock.start()


_moved_clock = _move_the_clock()


def pytest_unconfigure(config):
    if _moved_clock is not None:
        _moved_clock[0].stop()


@pytest.fixture(autouse=True)
def _each_test_just_before_midnight():
    """TEST_CLOCK_MIDNIGHT=0.3 (with TEST_CLOCK_AT): each test starts 0.3 s before the next midnight (UTC,
    the settings' TIME_ZONE), one day after the other, so that a test whose setup and assertions read
    the clock on either side of midnight (or of a month's or a year's end) fails. The clock only goes
    forward."""
    before = os.environ.get("TEST_CLOCK_MIDNIGHT")
    if _moved_clock is not None and before:
        import datetime as dt

        moved = _moved_clock[1]
        midnight = dt.datetime.combine(moved().date() + dt.timedelta(days=1), dt.time())
        moved.move_to(midnight - dt.timedelta(seconds=float(before)))
    yield


def pytest_collection_modifyitems(config, items):
    if _moved_clock is None:
        return
    skip = pytest.mark.skip(reason="a child process would read the real clock (TEST_CLOCK_AT moves this one's)")
    for item in items:
        if "child_clock" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    if os.environ.get("TEST_CLOCK_AT"):
        return f"clock moved to {os.environ['TEST_CLOCK_AT']} (TEST_CLOCK_AT)"
    return None


@pytest.fixture
def midday(monkeypatch):
    """The product's clock (django.utils.timezone.now) at noon UTC of a fixed day, and ticking from there:
    for a test whose events must fall on one day (a per-day grouping or chart, "today"), which the wall
    clock cannot promise near midnight. Returns that noon."""
    import datetime as dt
    import time

    from django.utils import timezone

    noon = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
    started = time.monotonic()
    monkeypatch.setattr(timezone, "now", lambda: noon + dt.timedelta(seconds=time.monotonic() - started))
    return noon


def make_user(username: str, role: str = HOLDER):
    return services.user_create(username=username, password=PASSWORD, role=role)


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def audrey(db):
    return make_user("audrey", AUDITOR)


@pytest.fixture
def sam(db):
    return make_user("sam", SUPPORT)


def api_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {test_client_token(user)}")
    return client


def test_client_token(user) -> str:
    """What force_login is to the pages, for the API: a token of the test client, made the way
    accounts.tokens.token_create makes one, in the account's unit of work, but without its audit
    event (account.token_created), which would otherwise land in every trail a test builds. Tests
    of signing in call token_create itself."""
    import secrets

    from django.utils import timezone

    from accounts.models import ApiToken

    secret = secrets.token_urlsafe(32)
    now = timezone.now()
    with unit_of(user):
        ApiToken.objects.create(user=user, digest=tokens._digest(secret), name="test client",
                                password_stamp=tokens._password_stamp(user), created_at=now, last_used_at=now,
                                expires_at=now + tokens._idle_days())
    return secret


@pytest.fixture
def api():
    """api(user) -> an APIClient authenticated with that user's token; api() is anonymous."""
    return api_for


def _skip_constraint_check_after_forgery():
    """A tamper test forges audit rows with audit.triggers.suspended(), which on SQLite defers the
    trail's link key to a commit that never comes (the test's transaction is rolled back). Django's
    TestCase checks deferred constraints before that rollback; skip the check for such a test."""
    from django.test import testcases

    should_check = testcases.TestCase._should_check_constraints

    def checked(self, connection):
        return should_check(self, connection) and not getattr(connection, "audit_link_deferred", False)

    testcases.TestCase._should_check_constraints = checked


_skip_constraint_check_after_forgery()


@pytest.fixture(autouse=True)
def _no_forgery_yet():
    from django.db import connection

    connection.audit_link_deferred = False


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with no throttle counts from the tests before it."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    """Each test writes blobs under its own temporary folder."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "blobs", "file_permissions_mode": 0o600},
        },
    }


@pytest.fixture(autouse=True, scope="session")
def _flush_append_only_tables():
    """Let the test runner empty append-only tables between transactional tests.

    Django flushes with DELETE (SQLite) or TRUNCATE (PostgreSQL), which the
    append-only triggers refuse. For the test flush only, the triggers come off
    around the statement and go straight back on, in the same transaction.
    """
    from django.db.backends.base.operations import BaseDatabaseOperations

    from audit import triggers
    from consent import guards
    from core import db as append_only_db

    original = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        vendor = self.connection.vendor
        tables = append_only_db.APPEND_ONLY_TABLES
        before = [s for table in tables for s in append_only_db.remove_sql(vendor, table)]
        after = [s for table in tables for s in append_only_db.install_sql(vendor, table)]
        if vendor in ("sqlite", "postgresql"):  # the consent state row's guard refuses DELETE too
            before += guards.remove_state_guard_sql(vendor)
            after += guards.state_guard_sql(vendor)
            after += triggers.rewind_guard_sql(vendor)  # the trail's DELETE guards that let a tail rewind through
        return original(self, [*before, *sql_list, *after])

    BaseDatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    BaseDatabaseOperations.execute_sql_flush = original



def _restore_shipped_data(sender, **kwargs):
    """After a test flush, put back the rows that data migrations ship (notices, role groups).

    Transactional tests (threads, live server, workers) end with a flush that
    empties every table; Django then sends post_migrate, and this puts back
    what a freshly migrated database has, so the next test starts the same way.
    """
    import importlib

    from django.apps import apps

    if sender.name != "consent":
        return
    for module, function in (("accounts.migrations.0002_create_role_groups", "create_groups"),
                             ("consent.migrations.0003_first_notices", "publish")):
        getattr(importlib.import_module(module), function)(apps, None)


@pytest.fixture(autouse=True, scope="session")
def _restore_data_after_flush():
    from django.db.models.signals import post_migrate

    post_migrate.connect(_restore_shipped_data, dispatch_uid="tests-restore-shipped-data")
    yield
    post_migrate.disconnect(dispatch_uid="tests-restore-shipped-data")


@pytest.fixture(autouse=True, scope="session")
def _write_guard():
    """core.guard on for every test: a write to an account's rows outside its unit of work fails."""
    from core import guard

    guard.install()
    yield
    guard.uninstall()


def unit_of(user, actor=None):
    """A test's own setup writes an account's rows (a job backdated, a row aged) the way the product
    does: inside that account's unit of work (core.guard fails any other way)."""
    from core.uow import Actor, account_write

    user_id = getattr(user, "pk", user)
    return account_write(user_id=user_id, actor=actor or Actor.system("test setup"))
