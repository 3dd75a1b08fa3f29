from django.core.management.base import BaseCommand

from support import rights, services


class Command(BaseCommand):
    help = (
        "End support cases whose time is up (their rights go, an audit event says so) and delete holders' "
        "data exports past their expiry. Safe to run as often as you like; expired cases are refused "
        "at every check even before this runs. (Export builds lost with their process or from the queue are "
        "sent again by the job workers' sweep, core.jobs.jobs_recover.)"
    )

    def handle(self, *args, **options):
        cases = services.cases_expire()
        exports = rights.exports_purge_expired()
        if options["verbosity"]:
            self.stdout.write(f"expired {cases} support case(s); deleted {exports} expired export(s)")
