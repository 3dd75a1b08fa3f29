"""The phone witnesses alice's access history on the live test server: status says it is verified; a server
restored from a backup (serving an older, smaller log and its older commitment) is refused, the uploads stop
with exit code 7, and they start again once the server shows a history that extends the one verified."""

import pytest

from audit import holder_logs, selectors
from audit.services import audit_checkpoint_if_due
from camera_roll_sync import cli
from tests.sync.conftest import make_photo
from tests.sync.test_live_sync import run_once
from vault.models import MediaItem

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_phone_verifies_the_history_and_refuses_one_rolled_back(device, consenting_alice, tmp_path, capsys,
                                                                     monkeypatch):
    roll = tmp_path / "roll"
    make_photo(roll / "IMG_1.jpg", seed=901)
    assert run_once(device, roll) == cli.EXIT_OK  # the upload is an event about alice
    assert audit_checkpoint_if_due() is not None
    old_checkpoint = holder_logs.latest_checkpoint(consenting_alice.pk)
    old_commitment = selectors.holder_commitment(subject_id=consenting_alice.pk)
    capsys.readouterr()
    assert cli.main(["status", "--config", str(device)]) == cli.EXIT_OK
    assert f"Your access history: {old_checkpoint.tree_size} entries, verified (since " in capsys.readouterr().out

    make_photo(roll / "IMG_2.jpg", seed=902)
    assert run_once(device, roll) == cli.EXIT_OK
    assert audit_checkpoint_if_due() is not None
    capsys.readouterr()
    assert cli.main(["status", "--config", str(device)]) == cli.EXIT_OK
    newer = holder_logs.latest_checkpoint(consenting_alice.pk).tree_size
    assert newer > old_checkpoint.tree_size
    assert f"Your access history: {newer} entries, verified" in capsys.readouterr().out

    # The server as a backup from before: its older holder checkpoint, and the commitment that went with it.
    monkeypatch.setattr(holder_logs, "latest_checkpoint", lambda subject_id: old_checkpoint)
    monkeypatch.setattr(selectors, "holder_commitment", lambda subject_id: old_commitment)
    make_photo(roll / "IMG_3.jpg", seed=903)
    capsys.readouterr()
    assert run_once(device, roll) == cli.EXIT_HISTORY
    assert "Your access history rolled back or forked" in capsys.readouterr().err
    assert MediaItem.objects.filter(owner=consenting_alice).count() == 2  # nothing more went up
    assert cli.main(["status", "--config", str(device)]) == cli.EXIT_HISTORY
    assert "Your access history: NOT verified: " in capsys.readouterr().out

    monkeypatch.undo()  # the real history again: it extends the one verified, and uploads resume
    assert run_once(device, roll) == cli.EXIT_OK
    assert MediaItem.objects.filter(owner=consenting_alice).count() == 3
