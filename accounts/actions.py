"""The actions accounts record: roles and API tokens (see core.actions for how to declare one)."""

from core.actions import action, category

category("account", auditor="Accounts, roles and devices", holder="Your account and devices", order=55)


def _role_holder(line) -> str:
    roles = ", ".join(sorted({str(o) for o in line.object_ids}))
    if line.action == "account.role_granted":
        return f"{line.who} gave you the {roles} role"
    return f"{line.who} took away your {roles} role"


def _role_auditor(event) -> str:
    verb, to = ("gave", "to") if event.action == "account.role_granted" else ("took away", "from")
    return f"{event.who} {verb} the {event.object_id} role" + (f" {to} {event.subject}" if event.subject else "")


def _token_auditor(event) -> str:
    verb = "signed in" if event.action == "account.token_created" else "signed out"
    whose = "" if event.self_acting or not event.subject else f" of {event.subject}"
    return f"{event.who} {verb} API device {event.object_id}{whose}"


action("account.role_granted", category="account", holder=_role_holder, auditor=_role_auditor)
action("account.role_revoked", category="account", holder=_role_holder, auditor=_role_auditor)
action("account.token_created", category="account", auditor=_token_auditor,
       holder=lambda line: f"{line.who} signed in {line.device or 'a device'}")
action("account.token_revoked", category="account", auditor=_token_auditor,
       holder=lambda line: f"{line.who} signed out {line.device or 'a device'}")
