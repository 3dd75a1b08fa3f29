"""Jobs declared for tests/test_jobs.py (a job must live at a module's top level)."""

from core import jobs
from core.models import JobLease

SEEN: list[tuple[str, int]] = []
RECOVERED: list[tuple[str, int]] = []


def _recover(object_id: str, attempts: int) -> bool:
    RECOVERED.append((object_id, attempts))
    return False


@jobs.job(recover=_recover)
def leased(object_id: str) -> None:
    SEEN.append((object_id, JobLease.objects.filter(kind=leased.module_path, object_id=object_id, held=True).count()))
