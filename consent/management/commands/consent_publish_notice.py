from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from consent import services
from core.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Publish a new notice version for a purpose from a text file. A material change (the default) "
        "makes every earlier consent to that purpose lapse until the holder gives it again: processing "
        "(uploads, suggestion passes, every gateway read) stops at once, but each holder's library is kept "
        "and they can still see, download and export it. Agreeing to the new version resumes service with "
        "the same photos; the libraries of holders who have not agreed again LAPSE_GRACE_DAYS (default 30) "
        "later are crypto-shredded by the housekeeping job (vault_purge), one account at a time, audited. "
        "Lapses are recorded one account per transaction; if publishing is interrupted, the next "
        "housekeeping run (vault_purge) records the rest."
    )

    def add_arguments(self, parser):
        parser.add_argument("purpose")
        parser.add_argument("version")
        parser.add_argument("text_file", type=Path, help="UTF-8 text of the notice")
        parser.add_argument("--title", required=True)
        parser.add_argument("--not-material", action="store_true",
                            help="a wording fix that does not change what people agree to")

    def handle(self, *args, purpose, version, text_file, title, not_material, **options):
        try:
            text = text_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CommandError(f"cannot read {text_file}: {exc}") from exc
        if not text:
            raise CommandError("the notice text is empty")
        try:
            notice = services.notice_publish(purpose=purpose, version=version, title=title, text=text,
                                             material=not not_material)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"published {purpose} notice v{notice.version} sha256={notice.sha256}"))
