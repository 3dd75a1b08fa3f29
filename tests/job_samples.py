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


IN_TRANSACTION: list[bool] = []


def _recover_outside(object_id: str, attempts: int) -> bool:
    from django.db import connection

    IN_TRANSACTION.append(connection.in_atomic_block)
    if object_id == "broken":
        raise RuntimeError("the recovery failed")
    return False


@jobs.job(recover=_recover_outside)
def outside(object_id: str) -> None:
    pass
