from django.core.management.base import BaseCommand
from tqdm import tqdm

from vault import keyring, keys


class Command(BaseCommand):
    help = (
        "Re-wrap every account data key under the active (first) master key in VAULT_MASTER_KEYS. "
        "No blob is rewritten. Put the new key first, keep the old one listed, run this, then retire the old key. "
        "Safe to interrupt and run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, batch_size: int, no_progress: bool, **options):
        active = keys.master_keys().active_id
        pending = keyring.account_keys_pending_rewrap()
        with tqdm(total=pending, unit="key", desc=f"re-wrapping under {active}", disable=no_progress) as bar:
            done = keyring.account_keys_rewrap(batch_size=batch_size, progress=bar.update)
        self.stdout.write(f"{done} account key(s) re-wrapped under master key {active}; no blob was touched.")
