import math
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks import task_backends

from core import jobs


class Command(BaseCommand):
    help = (
        "Run background jobs (suggestion passes, exports, verifications, emails) and the periodic ones of "
        "JOBS_SCHEDULE (crashed-job recovery, housekeeping, audit checkpoints), on whichever backend TASKS_BACKEND "
        "configures: the database (the default) or Redis. Run one or more beside the web server: each periodic job "
        "runs once per interval, whichever worker gets there first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", action="store_true", help="queue what is due, run every ready job, then exit")
        parser.add_argument("--interval", type=float, default=None,
                            help="seconds between looks at an empty queue and at the schedule "
                                 f"(default: {jobs.WORKER_LOOK_SECONDS}, less if a periodic job is more frequent)")

    def handle(self, *args, batch, interval, verbosity, **options):
        backend = task_backends["default"]
        name = type(backend).__name__
        if name == "ImmediateBackend":
            raise CommandError("TASKS_BACKEND=immediate runs jobs in the request: there is nothing to work on.")
        look = interval if interval is not None else jobs.look_seconds()
        if name == "DatabaseBackend":
            self._database(batch=batch, look=look)
        elif name == "RQBackend":
            self._redis(batch=batch, look=look)
        else:
            raise CommandError(f"no worker for the {name} task backend")

    def _database(self, *, batch: bool, look: float) -> None:
        from django_tasks_db.management.commands.db_worker import Worker

        class ScheduledWorker(Worker):
            def run_task(self, db_task_result) -> None:
                super().run_task(db_task_result)
                jobs.periodic_due(now=timezone.now())  # a long queue does not hold the schedule up

        # Each round queues what the schedule has due and runs every ready job (the worker's batch mode).
        worker = ScheduledWorker(
            queue_names=["*"], interval=look, batch=True, backend_name="default", startup_delay=False,
            max_tasks=None, worker_id=get_random_string(32), excluded_queue_names=[],
        )
        if not batch:
            worker.configure_signals()  # a clean stop on SIGTERM: the job running is finished first
        while worker.running:
            jobs.periodic_due(now=timezone.now())
            worker.run()
            if batch:
                return
            if worker.running:
                time.sleep(look)

    def _redis(self, *, batch: bool, look: float) -> None:
        import django_rq
        from django.db import connections
        from django_tasks_rq.backend import Job
        from rq import SimpleWorker, Worker

        connections.close_all()  # a forked job opens its own connection, never this process's
        wait = max(1, math.ceil(look))  # Redis waits whole seconds

        def scheduled(base):
            class ScheduledWorker(base):
                def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
                    while True:
                        jobs.periodic_due(now=timezone.now())
                        if timeout is None:  # a batch: whatever is queued, without waiting
                            return super().dequeue_job_and_maintain_ttl(None, max_idle_time)
                        found = super().dequeue_job_and_maintain_ttl(wait, max_idle_time=wait)
                        if found is not None:
                            return found

            return ScheduledWorker

        # Each job in a forked process of its own; a batch (tests, one-off runs) in this one.
        worker_class = scheduled(SimpleWorker if batch else Worker)
        worker = django_rq.get_worker("default", job_class=Job, worker_class=worker_class)
        worker.work(burst=batch, with_scheduler=True)
