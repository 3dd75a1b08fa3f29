import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.selectors import audit_head
from audit.verification import audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit trail: recompute every hash and MAC, check seq has no gaps, rebuild the Merkle roots "
        "and compare every stored tile with them, check every checkpoint signature. Prints OK with the counts, "
        "or the first bad seq and why (exit 1)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
        parser.add_argument("--witnessed-checkpoint", action="append", default=[], metavar="FILE",
                            help="a checkpoint note kept outside the database (a witness's last one, see "
                                 "tools/witness.py): the trail must extend it. Repeatable.")

    def handle(self, *args, no_progress=False, witnessed_checkpoint=(), **options):
        notes = []
        for path in witnessed_checkpoint:
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError as exc:
                raise CommandError(f"{path}: {exc}") from exc
            notes.append(_note_from(text))
        total = audit_head().size
        with tqdm(total=total, unit="ev", disable=no_progress or total < 10_000, file=sys.stderr) as bar:
            report = audit_verify(progress=bar.update, witnessed_notes=notes)
        if not report.ok:
            raise CommandError(f"FAILED at seq {report.first_bad_seq}: {report.problem}")
        self.stdout.write(
            f"OK: {report.events} events, {report.checkpoints} signed checkpoints verified; "
            f"root {report.root_hash}" + (f"; extends {report.witnessed} witnessed checkpoints" if report.witnessed
                                          else "")
        )


def _note_from(text: str) -> str:
    """A note file as written by tools/witness.py (its JSON state) or the bare note."""
    import json

    try:
        state = json.loads(text)
    except ValueError:
        return text
    return state["note"] if isinstance(state, dict) and "note" in state else text
