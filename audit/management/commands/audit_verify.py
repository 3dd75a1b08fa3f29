import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.selectors import audit_head
from audit.verification import audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit trail: recompute every hash and MAC, check seq has no gaps, rebuild the Merkle roots "
        "and compare every stored tile with them, check every checkpoint signature. Prints OK with the counts, "
        "or every problem found, the first one first (exit 1); --json for machines."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
        parser.add_argument("--json", action="store_true",
                            help="print the report as JSON (ok, counts, every problem found); exit 1 when not ok")
        parser.add_argument("--witnessed-checkpoint", action="append", default=[], metavar="FILE",
                            help="a checkpoint note kept outside the database (a witness's last one, see "
                                 "tools/witness.py): the trail must extend it. Repeatable.")
        parser.add_argument("--holder-logs", action="store_true",
                            help="also check every holder log against the trail (docs/holder-log.md): a second "
                                 "read of the trail, by holder")

    def handle(self, *args, no_progress=False, witnessed_checkpoint=(), json=False, holder_logs=False, **options):
        notes = []
        for path in witnessed_checkpoint:
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError as exc:
                raise CommandError(f"{path}: {exc}") from exc
            notes.append(_note_from(text))
        total = audit_head().size
        with tqdm(total=total, unit="ev", disable=no_progress or json or total < 10_000, file=sys.stderr) as bar:
            report = audit_verify(progress=bar.update, witnessed_notes=notes, holder_logs=holder_logs)
        if json:
            import json as json_module

            self.stdout.write(json_module.dumps(report.as_dict(), indent=1, sort_keys=True))
            if not report.ok:
                raise CommandError(f"FAILED: {len(report.problems)} problem(s)", returncode=1)
            return
        if not report.ok:
            lines = [f"FAILED at seq {report.first_bad_seq}: {report.problem}"]
            if len(report.problems) > 1:
                lines.append(f"{len(report.problems)} problems in all:")
                lines += [f"  - [{p['kind']}]" + (f" seq {p['seq']}:" if p["seq"] is not None else "") +
                          f" {p['message']}" for p in report.problems]
            raise CommandError("\n".join(lines))
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
