import re

from django import template

from consent import purposes

register = template.Library()

EVENT_WORDS = {
    "given": "Turned on",
    "withdrawn": "Turned off",
    "lapsed": "Paused: the notice changed",
    "revoked_by_support": "Turned off by support",
}


METHOD_WORDS = {"web": "on the web", "api": "from the phone app", "support": "by support"}


@register.filter
def method_words(method: str) -> str:
    return METHOD_WORDS.get(method, method)


@register.filter
def purpose_label(purpose: str) -> str:
    return purposes.PURPOSE_LABELS.get(purpose, purpose)


@register.filter
def event_words(event: str) -> str:
    return EVENT_WORDS.get(event, event)


@register.filter
def filesize(size) -> str:
    size = float(size or 0)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


_DURATION_UNITS = {"Y": "year", "M": "month", "W": "week", "D": "day"}


@register.filter
def duration_words(value: str) -> str:
    """An ISO 8601 duration of whole years, months, weeks or days in words ("P6Y" -> "6 years")."""
    match = re.fullmatch(r"P(\d+)([YMWD])", value or "")
    if not match:
        return value
    count, unit = int(match[1]), _DURATION_UNITS[match[2]]
    return f"{count} {unit}{'' if count == 1 else 's'}"
