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


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_it_counts_a_cycle_that_a_function_local_import_hides(tmp_path, monkeypatch):
    """Two planted modules that import each other only inside functions: a module cycle, and the
    packages they sit in a package cycle. Each local import alone would not fail at import time."""
    _tree(tmp_path, {
        "plantone/__init__.py": "",
        "plantone/a.py": "def f():\n    from planttwo import b\n    return b\n",
        "planttwo/__init__.py": "",
        "planttwo/b.py": "def g():\n    import plantone.a\n    return plantone.a\n",
    })
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module_cycles, package_cycles = import_cycles()
    assert module_cycles == [["plantone.a", "planttwo.b"]]
    assert package_cycles == [["plantone", "planttwo"]]


def test_it_counts_a_package_nobody_listed(tmp_path, monkeypatch):
    """A new app is in the count the day it appears: the packages are found, not listed."""
    _tree(tmp_path, {
        "plantcore/__init__.py": "",
        "plantcore/uow.py": "def f():\n    from newapp import services\n    return services\n",
        "newapp/__init__.py": "",
        "newapp/services.py": "from plantcore import uow\n",
        "tests/__init__.py": "",
    })
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles() == ([["newapp.services", "plantcore.uow"]], [["newapp", "plantcore"]])
