"""{% support_notices %}: what support did on the holder's account, until they dismiss it."""

from django import template

from support import notices

register = template.Library()


@register.inclusion_tag("support/_notices.html", takes_context=True)
def support_notices(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"notices": []}
    shown = notices.notices_for_holder(user_id=user.pk)
    notices.notices_seen(user_id=user.pk, notices=[notice for notice, _ in shown])
    return {"notices": shown, "request": request,
            "csrf_token": context.get("csrf_token")}
