"""No import cycles among our packages, function-local imports included (tools/import_cycles.py).

A local import hides a cycle, it does not remove it, so grimp's graph counts every import
statement wherever it stands.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from import_cycles import import_cycles  # noqa: E402


def test_it_finds_no_module_cycle(monkeypatch):
    monkeypatch.chdir(ROOT)
    module_cycles, _ = import_cycles()
    assert module_cycles == []


def test_it_finds_no_package_cycle(monkeypatch):
    monkeypatch.chdir(ROOT)
    _, package_cycles = import_cycles()
    assert package_cycles == []
