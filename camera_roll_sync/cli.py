"""consentsvc-sync: log in once per device, then keep a camera-roll folder uploaded while consent is on.

Exit codes: 0 done; 1 error; 2 usage; 3 Camera Roll Sharing Suggestions is off (nothing more
uploaded); 4 the token was refused (log in again); 5 the server did not answer; 6 the server's
answer made no sense (not the API's documented shape: nothing more was sent, and the photos not
yet uploaded stay waiting here); 7 your access history did not verify: the service's log of it was
rolled back, forked, or is not the one committed to its audit trail (nothing more is uploaded until
it shows one that extends the history this device verified).
"""

import argparse
import getpass
import os
import signal
import sys
import threading
from pathlib import Path

from camera_roll_sync import __version__, config, history, media
from camera_roll_sync.api import Api, ApiError, Backoff
from camera_roll_sync.state import REFUSED, SKIPPED, UPLOADED, WAITING, State
from camera_roll_sync.sync import AuthFailed, MalformedAnswer, Options, Syncer, pass_message, stopped_message

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CONSENT_OFF, EXIT_AUTH, EXIT_UNREACHABLE, EXIT_MALFORMED = 0, 1, 2, 3, 4, 5, 6
EXIT_HISTORY = 7


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def cmd_login(args) -> int:
    path = config.config_path(args.config)
    password = os.environ.get(config.ENV_PASSWORD) or getpass.getpass(f"Password for {args.username}: ")
    device = args.device or config.device_name()
    try:
        api = Api(args.server)
        token = api.token_create(username=args.username, password=password, device=device)
    except ValueError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except ApiError as exc:
        _err(f"Login failed: {exc.message} ({exc.code})")
        if exc.malformed:
            return EXIT_MALFORMED
        return EXIT_UNREACHABLE if exc.status == 0 else EXIT_AUTH
    config.save(path, config.Config(server=args.server.rstrip("/"), username=args.username, token=token,
                                    device=device))
    state = State(config.state_path(path))
    if state.set_account(f"{args.server.rstrip('/')}|{args.username}"):
        print("Another account was synced from here before: this device's upload history starts afresh.")
    state.close()
    print(f"Logged in as {args.username} on {args.server} (this device: {device}). Token kept in {path}.")
    return EXIT_OK


def cmd_logout(args) -> int:
    path = config.config_path(args.config)
    try:
        cfg = config.load(path)
    except config.ConfigError as exc:
        _err(str(exc))
        return EXIT_OK if not path.exists() else EXIT_ERROR
    try:
        revoked = Api(cfg.server, cfg.token).logout()
    except ApiError as exc:
        if exc.status == 401:
            revoked = True  # already revoked (a password change, an erase, another logout)
        elif not args.force:
            _err(f"Could not revoke the token: {exc.message}. Nothing changed; --force forgets it here anyway.")
            return EXIT_UNREACHABLE if exc.status == 0 else EXIT_ERROR
        else:
            revoked = False
    config.forget(path)
    if revoked:
        print(f"Logged out: the token of {cfg.device} is revoked on {cfg.server} and forgotten here.")
    else:
        print(f"The token is forgotten here, but {cfg.server} did not revoke it: "
              "change your password there to revoke every token.")
    return EXIT_OK


def _syncer(args, cfg: config.Config, state: State) -> Syncer:
    excludes = media.DEFAULT_EXCLUDES + tuple(args.exclude or ())
    options = Options(days=args.days, excludes=excludes, batch_size=args.batch, jobs=args.jobs,
                      progress=False if args.no_progress else None,
                      backoff=Backoff(max_attempts=args.retries if args.once else None))
    api = Api(cfg.server, cfg.token)
    return Syncer(api=api, state=state, root=Path(args.folder), options=options,
                  say=lambda message: _err(message), witness=lambda: history.witness(api, state))


def cmd_run(args) -> int:
    path = config.config_path(args.config)
    try:
        cfg = config.load(path)
    except config.ConfigError as exc:
        _err(str(exc))
        return EXIT_ERROR
    if not Path(args.folder).is_dir():
        _err(f"{args.folder} is not a folder.")
        return EXIT_USAGE
    state = State(config.state_path(path))
    state.set_account(f"{cfg.server}|{cfg.username}")
    syncer = _syncer(args, cfg, state)

    def stop(signum, frame):
        syncer.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
    try:
        if not args.once:
            print(f"Watching {args.folder} (every {args.interval:g} s; Ctrl-C stops). Uploading to {cfg.server} "
                  f"as {cfg.username} while Camera Roll Sharing Suggestions is on.")
            syncer.run_forever(interval=args.interval)
            return EXIT_OK
        result = syncer.sync_once()
    except AuthFailed as exc:
        _err(str(exc))
        return EXIT_AUTH
    except MalformedAnswer as exc:
        _err(str(exc))
        return EXIT_MALFORMED
    except history.HistoryNotVerified as exc:
        _err(str(exc))
        return EXIT_HISTORY
    finally:
        state.close()
    if result.stopped == "consent_off":
        print(stopped_message(result))
        return EXIT_CONSENT_OFF
    print(pass_message(result))
    if result.stopped == "unreachable":
        _err("The server did not answer; run again later (nothing is lost).")
        return EXIT_UNREACHABLE
    if result.stopped in ("interrupted", "error"):
        return EXIT_ERROR
    return EXIT_OK


def cmd_status(args) -> int:
    path = config.config_path(args.config)
    try:
        cfg = config.load(path)
    except config.ConfigError as exc:
        _err(str(exc))
        return EXIT_ERROR
    state = State(config.state_path(path))
    counts = state.counts()
    reasons = state.skip_reasons()
    last_pass = state.meta("last_pass")
    api = Api(cfg.server, cfg.token, timeout=15)
    code = EXIT_OK
    try:
        access = history.witness(api, state)
        if not access.verified and state.meta("history_note") and "not checked" in (access.problem or ""):
            access = history.recorded(state)  # no answer now: say what was verified last
    except history.HistoryNotVerified:
        access, code = history.recorded(state), EXIT_HISTORY
    except ApiError as exc:
        access = history.HistoryStatus(verified=False, problem=f"not checked ({exc.message})")
    finally:
        state.close()
    print(f"Account: {cfg.username} on {cfg.server} (this device: {cfg.device})")
    try:
        consent = api.consent()
        on = "on" if consent.granted else ("off (lapsed: a new notice waits for your agreement)"
                                           if consent.lapsed else "off")
        print(f"Camera Roll Sharing Suggestions: {on}")
    except ApiError as exc:
        print(f"Camera Roll Sharing Suggestions: unknown ({exc.message})")
    print(f"Uploaded: {counts.get(UPLOADED, 0)}")
    print(f"Waiting:  {counts.get(WAITING, 0)}")
    skipped = counts.get(SKIPPED, 0) + counts.get(REFUSED, 0)
    detail = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(reasons.items()))
    print(f"Skipped:  {skipped}" + (f" ({detail})" if detail else ""))
    print(f"Last pass: {last_pass or 'never'}")
    print(access.line())
    return code


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help=f"config file (default ${config.ENV_CONFIG} or "
                        "~/.config/consentsvc-sync/config.json); the state lives beside it")
    top = argparse.ArgumentParser(prog="consentsvc-sync", description=__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    login = sub.add_parser("login", parents=[common], help="get a token for this device")
    login.add_argument("--server", required=True, help="e.g. http://127.0.0.1:8000")
    login.add_argument("--username", required=True)
    login.add_argument("--device", help="this device's name (default: the host name)")
    login.set_defaults(func=cmd_login)

    logout = sub.add_parser("logout", parents=[common], help="revoke this device's token on the server")
    logout.add_argument("--force", action="store_true", help="forget the token here even if the server is away")
    logout.set_defaults(func=cmd_logout)

    run = sub.add_parser(
        "run", parents=[common], help="upload recent photos from FOLDER while consent is on",
        description="Upload recent photos from FOLDER while Camera Roll Sharing Suggestions is on. Without --once "
                    "it keeps watching the folder until Ctrl-C or SIGTERM (exit 0), a refused token (4), an answer "
                    "that makes no sense (6) or an access history that does not verify (7); the feature turned off "
                    "does not end it: it waits and uploads again once it is on. With --once: one pass, then 0 done, "
                    "3 the feature is off, 5 no answer.")
    run.add_argument("folder", metavar="FOLDER", help="the camera roll (e.g. a DCIM folder)")
    run.add_argument("--once", action="store_true", help="one pass, then exit (for scripts)")
    run.add_argument("--days", type=_positive, default=30, help="only photos taken in the last DAYS days (30)")
    run.add_argument("--exclude", action="append", metavar="PATTERN",
                     help="skip folders matching PATTERN (repeatable); screenshots and hidden folders always are")
    run.add_argument("--batch", type=_positive, default=8, help="photos per batch; consent is checked before each")
    run.add_argument("--jobs", type=_positive, default=2, help="uploads at once (2)")
    run.add_argument("--interval", type=float, default=10.0, help="seconds between looks at the folder (10)")
    run.add_argument("--retries", type=_positive, default=8,
                     help="with --once: attempts per request on 429, 5xx or no answer (8)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", parents=[common], help="uploaded, waiting, skipped; is consent on? "
                            "is your access history verified?")
    status.set_defaults(func=cmd_status)
    return top


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)
