from django.core.management.base import BaseCommand
from tqdm import tqdm

from vault import item_keys


class Command(BaseCommand):
    help = (
        "Give every media item stored before items had keys of their own a key of its own: its files are "
        "re-encrypted under it, so deleting the item later crypto-shreds it even where a copy of its files "
        "survives. The account keys are not changed. Safe to interrupt and run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=100)
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, batch_size: int, no_progress: bool, **options):
        pending = item_keys.legacy_items_pending()
        with tqdm(total=pending, unit="item", desc="item keys", disable=no_progress) as bar:
            result = item_keys.legacy_items_rekey(batch_size=batch_size, progress=bar.update)
        self.stdout.write(f"{result['items']} item(s) given a key of their own; {result['skipped']} left as they "
                          "were (deleted meanwhile, or unreadable: see the log).")
