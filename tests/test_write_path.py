"""The one write path stays the only one (invariant 10), in the spirit of Zulip's custom lint rules.

Outside core/uow.py (the unit of work) and audit/ (the trail itself), no code may
append to the audit trail or lock an account row: writes go through
core.uow.account_write / events_write, which take the account lock first and append
every event last, in one batch. Anything else brings back the deadlocks the unit of
work exists to prevent (an audit head lock taken before an account lock). Nor may it call
transaction.on_commit: work after commit (deleting blobs) is the unit's after_commit. core.guard
refuses that at run time too, but only on the paths the tests take; this scan reads every file.
Nor may it make or change the trail's rows itself (AuditEvent.objects.create and the like).
Nor may it reach the writer the audit app hands the unit of work (core.uow's append_many behind
_audit()): import-linter lets every app import core.uow, so only this scan sees that back door.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Every package at the top of the tree is scanned, found rather than listed, so a new app is
# covered the day it appears; only the trail itself, the tests and the standalone tools are not.
NOT_SCANNED = {"audit", "tests", "bench", "tools", "camera_roll_sync"}
ALLOWED = {Path("core/uow.py")}
APPEND_NAMES = {"audit_append", "audit_append_many"}
# The writer the audit app registers with the unit of work (core.uow): its batch append, and the
# unit's private handles on it. Reached from another app they would append outside any unit, past
# import-linter too (core.uow is importable by everyone).
WRITER_NAMES = {"append_many", "_audit", "_writer", "audit_writer_register"}
# Rows whose lock is the account lock: the lock row itself, and the auth user row it replaced.
ACCOUNT_ROWS = {"AccountLock", "User", "get_user_model"}
# The trail's own rows: only audit writes them (a row made here would be unsequenced and unhashed).
AUDIT_ROWS = {"AuditEvent", "AuditHead", "AuditOutbox", "AuditCheckpoint", "AuditTile", "AuditCosignature",
              "AuditSetAside", "HolderLog", "HolderLogEntry", "HolderLogTile", "HolderCheckpoint"}
ROW_WRITES = {"create", "bulk_create", "get_or_create", "update_or_create", "update", "delete", "bulk_update"}


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


def violations(source: str, path: str) -> list[str]:
    """`path:line: what` for each append to the trail or account-row lock in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "core.uow":
            for alias in node.names:
                if alias.name in WRITER_NAMES:
                    found.append(f"{path}:{node.lineno}: imports the unit's audit writer ({alias.name})")
        elif isinstance(node, ast.Attribute) and node.attr in WRITER_NAMES:
            found.append(f"{path}:{node.lineno}: reaches the unit's audit writer ({node.attr})")
        elif isinstance(node, ast.ImportFrom) and node.module == "audit.services":
            for alias in node.names:
                if alias.name in APPEND_NAMES:
                    found.append(f"{path}:{node.lineno}: imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module == "django.db.transaction":
            # Imported by name, on_commit would also slip past core.guard, which patches the module.
            if any(alias.name == "on_commit" for alias in node.names):
                found.append(f"{path}:{node.lineno}: imports on_commit")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in APPEND_NAMES:
                found.append(f"{path}:{node.lineno}: calls {name}")
            elif isinstance(func, ast.Name) and name in AUDIT_ROWS:
                found.append(f"{path}:{node.lineno}: makes an {name} row")
            elif name in ROW_WRITES and isinstance(func, ast.Attribute) and _names_in(func.value) & AUDIT_ROWS:
                found.append(f"{path}:{node.lineno}: writes the trail's rows")
            elif name == "on_commit":
                found.append(f"{path}:{node.lineno}: calls on_commit (use the unit's after_commit)")
            elif (name == "select_for_update" and isinstance(func, ast.Attribute)
                  and _names_in(func.value) & ACCOUNT_ROWS):
                found.append(f"{path}:{node.lineno}: locks an account row")
    return sorted(found, key=lambda v: int(v.split(":")[1]))


def packages() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name not in NOT_SCANNED)


def _sources():
    for package in packages():
        for file in sorted((ROOT / package).rglob("*.py")):
            relative = file.relative_to(ROOT)
            if "migrations" in relative.parts or relative in ALLOWED:
                continue
            yield relative, file.read_text(encoding="utf-8")


def test_it_finds_no_write_outside_the_unit_of_work():
    found = [v for relative, source in _sources() for v in violations(source, str(relative))]
    assert found == [], "append audit events and lock accounts only through core.uow:\n" + "\n".join(found)


def test_import_linter_knows_every_package():
    """A new package is under the import contracts too (only audit may import its writers)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert set(packages()) <= set(config["tool"]["importlinter"]["root_packages"])


def test_it_fails_on_audit_append_in_a_new_package(tmp_path, monkeypatch):
    """A package nobody listed anywhere: the scan finds it by itself."""
    fresh = tmp_path / "newapp"
    fresh.mkdir()
    (fresh / "__init__.py").write_text("", encoding="utf-8")
    (fresh / "services.py").write_text(
        "from audit.services import audit_append\n\n\ndef thing_do():\n    audit_append(action='thing.done')\n",
        encoding="utf-8")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    found = [v for relative, source in _sources() for v in violations(source, str(relative))]
    assert found == ["newapp/services.py:1: imports audit_append", "newapp/services.py:5: calls audit_append"]


def test_it_scans_the_code_that_writes():
    scanned = {str(relative) for relative, _ in _sources()}
    assert {"vault/services.py", "vault/gateway.py", "consent/services.py", "support/services.py",
            "support/rights.py", "suggestions/services.py"} <= scanned
    assert "core/uow.py" not in scanned


PLANTED = '''
from audit.services import audit_append, EventInput
from django.contrib.auth import get_user_model
from core.models import AccountLock
from django.db.transaction import on_commit


def media_delete(*, user_id, item_id):
    list(get_user_model().objects.select_for_update().filter(pk=user_id))
    AccountLock.objects.select_for_update().get(pk=user_id)
    audit_append(action="media.deleted", actor_kind="holder")
    services.audit_append_many(events=[])
    MediaItem.objects.select_for_update().get(pk=item_id)  # an item's own row lock is fine
    transaction.on_commit(lambda: storage.blob_delete(name="x"))
    on_commit(print)
    AuditEvent.objects.create(action="media.deleted", actor_kind="holder")
    AuditEvent(action="media.deleted").save()
    list(AuditEvent.objects.filter(subject_id=user_id))  # reading the trail is fine
    uow._audit().append_many(events=[])
    from core.uow import audit_writer_register
'''


def test_it_fails_on_a_planted_violation():
    found = violations(PLANTED, "vault/planted.py")
    assert found == [
        "vault/planted.py:2: imports audit_append",
        "vault/planted.py:5: imports on_commit",
        "vault/planted.py:9: locks an account row",
        "vault/planted.py:10: locks an account row",
        "vault/planted.py:11: calls audit_append",
        "vault/planted.py:12: calls audit_append_many",
        "vault/planted.py:14: calls on_commit (use the unit's after_commit)",
        "vault/planted.py:15: calls on_commit (use the unit's after_commit)",
        "vault/planted.py:16: writes the trail's rows",
        "vault/planted.py:17: makes an AuditEvent row",
        "vault/planted.py:19: reaches the unit's audit writer (append_many)",
        "vault/planted.py:19: reaches the unit's audit writer (_audit)",
        "vault/planted.py:20: imports the unit's audit writer (audit_writer_register)",
    ]


def test_it_fails_when_the_violation_is_in_a_real_file(tmp_path, monkeypatch):
    """The whole check, not just the parser: a planted file inside a scanned package is reported."""
    fake = tmp_path / "vault"
    fake.mkdir()
    (fake / "__init__.py").write_text("", encoding="utf-8")
    (fake / "planted.py").write_text(PLANTED, encoding="utf-8")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    found = [v for relative, source in _sources() for v in violations(source, str(relative))]
    assert len(found) == 13 and all(v.startswith("vault/planted.py:") for v in found)
