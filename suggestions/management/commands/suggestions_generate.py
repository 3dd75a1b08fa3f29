from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from consent import purposes
from consent.selectors import notice_current, subjects_with_active_consent
from suggestions import jobs


class Command(BaseCommand):
    help = (
        "Run a suggestion pass now, for one holder (--user) or for every holder who has Camera Roll "
        "Sharing Suggestions on (--all). Each pass is a job like any other: idempotent, audited, and "
        "discarded if consent is withdrawn while it runs."
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--all", action="store_true", help="every holder with the feature on")
        who.add_argument("--user", help="one holder, by username or id")

    def handle(self, *args, **options):
        if options["all"]:
            user_ids = sorted(
                subjects_with_active_consent(
                    purpose=purposes.CAMERA_ROLL, notice=notice_current(purpose=purposes.CAMERA_ROLL)
                )
            )
            totals = {"created": 0, "discarded": 0, "busy": 0}
            for user_id in tqdm(user_ids, desc="holders", unit="holder", disable=options["verbosity"] == 0):
                job = jobs.suggestions_generate_now(user_id=user_id)
                if job is None:
                    totals["busy"] += 1
                else:
                    totals["created"] += job.created_count
                    totals["discarded"] += job.discarded_count
            self.stdout.write(
                f"{len(user_ids)} holders: {totals['created']} suggestions made, {totals['discarded']} discarded, "
                f"{totals['busy']} already running."
            )
            return

        user = self._user(options["user"])
        bar = tqdm(total=1, desc=f"suggestions for {user.get_username()}", unit="step",
                   disable=options["verbosity"] == 0)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        job = jobs.suggestions_generate_now(user_id=user.pk, on_progress=progress)
        bar.close()
        if job is None:
            raise CommandError("A pass for this holder is running already.")
        self.stdout.write(f"job {job.pk}: {job.status}, {job.created_count} made, {job.discarded_count} discarded"
                          + (f" ({job.error_code})" if job.error_code else ""))

    def _user(self, who: str):
        users = get_user_model().objects
        found = users.filter(username=who).first()
        if found is None and who.isdigit():
            found = users.filter(pk=int(who)).first()
        if found is None:
            raise CommandError(f"No user {who!r}.")
        return found
