from django.core.management.base import BaseCommand, CommandError
from django.utils.crypto import get_random_string
from django_tasks import task_backends

from consentsvc import jobs


class Command(BaseCommand):
    help = (
        "Run background jobs (suggestion passes, exports, purges) and the periodic ones (lease recovery, "
        "housekeeping), on whichever backend TASKS_BACKEND configures: the database (the default) or Redis. "
        "Run one or more beside the web server."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", action="store_true", help="queue what is due, run every ready job, then exit")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between looks at an empty queue")

    def handle(self, *args, batch, interval, verbosity, **options):
        backend = task_backends["default"]
        name = type(backend).__name__
        jobs._import_job_modules()
        if name == "ImmediateBackend":
            raise CommandError("TASKS_BACKEND=immediate runs jobs in the request: there is nothing to work on.")
        ticker = None
        if batch:
            jobs.periodic_tick()
        else:
            ticker = jobs.Ticker()
            ticker.start()
        try:
            if name == "DatabaseBackend":
                self._database(batch=batch, interval=interval, verbosity=verbosity)
            elif name == "RQBackend":
                self._redis(batch=batch)
            else:
                raise CommandError(f"no worker for the {name} task backend")
        finally:
            if ticker is not None:
                ticker.stopped.set()

    def _database(self, *, batch: bool, interval: float, verbosity: int) -> None:
        from django_tasks_db.management.commands.db_worker import Worker

        worker = Worker(
            queue_names=["*"], interval=interval, batch=batch, backend_name="default", startup_delay=not batch,
            max_tasks=None, worker_id=get_random_string(32), excluded_queue_names=[],
        )
        if not batch:
            worker.configure_signals()  # a clean stop on SIGTERM: the job running is finished first
        worker.run()

    def _redis(self, *, batch: bool) -> None:
        import django_rq
        from django.db import connections
        from django_tasks_rq.backend import Job
        from rq import SimpleWorker, Worker

        connections.close_all()  # a forked job opens its own connection, never this process's

        # Each job in a forked process of its own; a batch (tests, one-off runs) in this one.
        worker = django_rq.get_worker("default", job_class=Job, worker_class=SimpleWorker if batch else Worker)
        worker.work(burst=batch, with_scheduler=True)
