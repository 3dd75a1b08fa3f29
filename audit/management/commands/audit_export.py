import contextlib
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.canonical import OUTCOMES
from audit.export import export_stream
from audit.filters import parse_moment
from audit.services import EXPORT_FORMATS, audit_export_begin
from core.errors import ServiceError
from core.uow import Actor


def _moment(text: str, *, end: bool = False):
    moment = parse_moment(text, end=end)
    if moment is None:
        raise CommandError(f"{text!r} is not an ISO date or date-time")
    return moment


class Command(BaseCommand):
    help = (
        "Export the audit trail as CSV or JSON Lines (with canonical bytes, hashes and the covering signed "
        "checkpoint, for tools/verify_audit_export.py). The export is recorded as an audit event."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=EXPORT_FORMATS, default="jsonl")
        parser.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
        parser.add_argument("--since", help="ISO date or date-time")
        parser.add_argument("--until", help="ISO date (inclusive) or date-time (exclusive)")
        parser.add_argument("--subject", type=int, help="data subject's user id")
        parser.add_argument("--actor", help='"<kind>:<id>", a kind, or an id')
        parser.add_argument("--action")
        parser.add_argument("--outcome", choices=OUTCOMES)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        filters = {
            "since": _moment(options["since"]) if options["since"] else None,
            "until": _moment(options["until"], end=True) if options["until"] else None,
            "subject_id": options["subject"],
            "actor": options["actor"],
            "action": options["action"],
            "outcome": options["outcome"],
        }
        try:
            checkpoint = audit_export_begin(fmt=options["format"], filters=filters,
                                            actor=Actor.system("cli"))
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        to_stdout = options["output"] == "-"
        out = sys.stdout.buffer if to_stdout else open(options["output"], "wb")  # noqa: SIM115
        show = not options["no_progress"] and not to_stdout
        progress = tqdm(unit="B", unit_scale=True, disable=not show, file=sys.stderr)
        with contextlib.nullcontext(out) if to_stdout else out, progress as bar:
            for chunk in export_stream(fmt=options["format"], checkpoint=checkpoint, filters=filters):
                out.write(chunk)
                bar.update(len(chunk))
            out.flush()
        if options["output"] != "-":
            self.stderr.write(f"Wrote {options['output']}, covering {checkpoint.tree_size} events.")
