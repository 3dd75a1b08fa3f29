"""The state file of a program that follows the trail from outside (tools/witness.py, tools/monitor.py),
without Django: one copy of the writer for both."""

import json
import os
import tempfile


def state_save(path: str, data: dict, *, prefix: str) -> None:
    """Writes `data` as JSON atomically (a new file, `prefix` in its name, renamed over the old one),
    readable by its owner only: a run that dies halfway leaves the previous state whole."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
