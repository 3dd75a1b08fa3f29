"""core.guard looks at the models of the apps in its OUR_APPS: every app of ours with models is
there (but audit, whose rows the unit of work itself writes), so a new app's account data is
guarded the day it appears, as a new package is under the import contracts (tests/test_write_path.py)."""

from pathlib import Path

from django.apps import apps

from core import guard

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"  # bin/_venv makes the virtualenv inside the checkout: its apps are not ours
WRITTEN_BY_THE_UNIT = {"audit"}


def test_every_app_of_ours_with_models_is_guarded():
    ours = {config.label for config in apps.get_app_configs()
            if Path(config.path).resolve().is_relative_to(ROOT)
            and not Path(config.path).resolve().is_relative_to(VENV) and list(config.get_models())}
    assert ours - WRITTEN_BY_THE_UNIT <= set(guard.OUR_APPS), "add the new app to core.guard.OUR_APPS"
    assert not WRITTEN_BY_THE_UNIT & set(guard.OUR_APPS)
