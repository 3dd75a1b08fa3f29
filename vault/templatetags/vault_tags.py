"""Small filters for the vault's pages."""

from django import template

register = template.Library()


@register.filter
def duration_ms(value) -> str:
    """A video's length as a player shows it: 0:07, 12:30, 1:02:03."""
    try:
        seconds = max(0, round(int(value) / 1000))
    except (TypeError, ValueError):
        return ""
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
