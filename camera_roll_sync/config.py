"""Where the client keeps its token (a JSON file, mode 0600) and its state (SQLite, beside it)."""

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

ENV_CONFIG = "CONSENTSVC_SYNC_CONFIG"
ENV_PASSWORD = "CONSENTSVC_PASSWORD"  # noqa: S105 - the name of a variable, not a password


class ConfigError(Exception):
    """The config file is missing, unreadable or says we are not logged in."""


@dataclass
class Config:
    server: str
    username: str
    token: str
    device: str


def config_path(explicit: str | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV_CONFIG):
        return Path(os.environ[ENV_CONFIG]).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "consentsvc-sync" / "config.json"


def state_path(path: Path) -> Path:
    """The state database lives beside the config file: config.json -> config.state.sqlite3."""
    return path.with_name(f"{path.stem}.state.sqlite3")


def device_name() -> str:
    return socket.gethostname() or "unknown device"


def load(path: Path) -> Config:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"Not logged in (no {path}). Run: consentsvc-sync login --server URL --username NAME"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}") from None
    try:
        return Config(server=raw["server"], username=raw["username"], token=raw["token"], device=raw["device"])
    except (KeyError, TypeError):
        raise ConfigError(f"{path} is not a consentsvc-sync config; log in again.") from None


def save(path: Path, config: Config) -> None:
    """Write the config with mode 0600 from the first byte (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is ignored for an existing file
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(config), out, indent=2)
            out.write("\n")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def forget(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
