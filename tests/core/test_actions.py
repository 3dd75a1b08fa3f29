"""The action registry (core.actions): every action the trail records is declared once, by its app.

The trail refuses an action no app declared, and every action named in the code is declared, so
both history pages have words and a category for everything they can be asked to show.
"""

import ast
import re
from pathlib import Path

import pytest

from audit.models import AuditEvent
from audit.services import EventInput, audit_append, audit_append_many
from consent.models import ConsentEntry
from core import actions
from core.errors import ServiceError

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
NOT_SCANNED = {"tests", "bench", "tools", "camera_roll_sync"}
ACTION_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def test_an_action_no_app_declared_is_refused_and_nothing_is_written():
    before = AuditEvent.unchecked.count()
    with pytest.raises(ServiceError) as caught:
        audit_append(action="media.reindexed", actor_kind="system", subject_id=1)
    assert caught.value.code == "audit_event_invalid" and "not registered" in caught.value.message
    with pytest.raises(ServiceError):  # in a batch too: the declared one before it is not kept either
        audit_append_many(events=[EventInput(action="media.read", actor_kind="system"),
                                  EventInput(action="consent.smuggled", actor_kind="system")])
    assert AuditEvent.unchecked.count() == before


def test_a_declared_action_is_recorded_and_forgotten_with_its_test_block():
    with actions.temporary():
        actions.action("media.reindexed", category="media")
        assert audit_append(action="media.reindexed", actor_kind="system").action == "media.reindexed"
    assert not actions.is_registered("media.reindexed")


def test_a_declaration_must_be_well_formed_and_once():
    with actions.temporary():
        with pytest.raises(actions.ActionError):
            actions.action("Media.Read", category="media")
        with pytest.raises(actions.ActionError):
            actions.action("media.read", category="media")  # already declared by vault
        with pytest.raises(actions.ActionError):
            actions.category("media", auditor="Something else")


def _named(source: str, where: str) -> dict[str, str]:
    """Action names `source` passes as `action=` or assigns to `action`/`*ACTION`: name -> file:line."""
    found = {}
    for node in ast.walk(ast.parse(source)):
        values = []
        if isinstance(node, ast.Call):
            values = [k.value for k in node.keywords if k.arg == "action"]
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and (t.id == "action" or t.id.endswith("ACTION")) for t in targets):
                values = [node.value] if node.value is not None else []
        for value in values:
            for constant in ast.walk(value):
                if isinstance(constant, ast.Constant) and isinstance(constant.value, str) and ACTION_NAME.match(
                        constant.value):
                    found.setdefault(constant.value, f"{where}:{constant.lineno}")
    return found


def _declared_in_code() -> dict[str, str]:
    found = {}
    packages = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name not in NOT_SCANNED)
    for package in packages:
        for file in sorted((ROOT / package).rglob("*.py")):
            relative = file.relative_to(ROOT)
            if "migrations" not in relative.parts and relative.name != "actions.py":
                found.update({k: v for k, v in _named(file.read_text(encoding="utf-8"), str(relative)).items()
                              if k not in found})
    return found


def test_every_action_named_in_the_code_is_declared():
    named = _declared_in_code()
    assert len(named) > 40  # the scan finds the code's actions (there are about fifty)
    missing = sorted(f"{where}: {name}" for name, where in named.items() if not actions.is_registered(name))
    assert missing == []


def test_every_consent_ledger_event_has_its_action():
    # consent.services records f"consent.{event}" for each ledger event: the scan above cannot see those.
    assert [e for e in ConsentEntry.Event.values if not actions.is_registered(f"consent.{e}")] == []


def test_the_scan_sees_an_undeclared_action():
    planted = 'def f(uow, moved):\n    uow.record(uow.event(action="media.teleported" if moved else "media.read"))\n'
    named = _named(planted, "vault/planted.py")
    assert named == {"media.teleported": "vault/planted.py:2", "media.read": "vault/planted.py:2"}
    assert not actions.is_registered("media.teleported")


def test_every_action_is_in_a_category_both_readers_can_filter_by():
    keys = {c.key for c in actions.categories()}
    assert all(a.category in keys for a in actions.actions())
    assert len({c.holder_word for c in actions.categories() if c.holder}) == len(
        [c for c in actions.categories() if c.holder])


def test_both_history_pages_tell_an_action_in_the_words_its_app_declared(django_user_model):
    from audit.sentences import sentence
    from support.access_log import access_log_page

    alice = django_user_model.objects.create_user("alice")
    with actions.temporary():
        actions.action("media.polished", category="media",
                       holder=lambda line: f"{line.who} polished {line.count} photos",
                       auditor=lambda event: f"{event.who} polished item {event.object_id}{event.about}")
        for pk in (4, 5):
            audit_append(action="media.polished", actor_kind="holder", actor_id=alice.pk, subject_id=alice.pk,
                         object_type="media", object_id=pk)
        lines = [entry.summary for entry in access_log_page(user_id=alice.pk).entries]
        assert lines == ["You polished 2 photos"]
        event = AuditEvent.objects.filter(action="media.polished").order_by("seq").first()
        assert sentence(event, {str(alice.pk): "alice"}) == "Holder alice polished item 4 of alice"
