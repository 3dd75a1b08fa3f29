from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.decorators import holder_required
from consent import purposes, selectors, services
from consent.models import ConsentEntry
from consentsvc.errors import ServiceError
from vault.selectors import media_summary


@holder_required
@require_http_methods(["GET", "POST"])
def camera_roll_settings(request):
    if request.method == "POST":
        purpose = request.POST.get("purpose", "")
        turn_on = request.POST.get("action") == "on"
        label = purposes.PURPOSE_LABELS.get(purpose, purpose)
        try:
            if turn_on:
                services.consent_give(user=request.user, purpose=purpose,
                                      notice_version=request.POST.get("notice_version", ""),
                                      method=ConsentEntry.Method.WEB, actor=request.user)
                messages.success(request, f"{label} is on.")
            else:
                services.consent_withdraw(user=request.user, purpose=purpose,
                                          method=ConsentEntry.Method.WEB, actor=request.user)
                messages.success(request, f"{label} is off. Access stopped at once.")
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect("consent:settings")
    return render(request, "consent/camera_roll.html", {
        "states": selectors.consent_state(user_id=request.user.pk),
        "history": selectors.consent_history(user_id=request.user.pk)[:50],
        "labels": purposes.PURPOSE_LABELS,
        "held": media_summary(user_id=request.user.pk),
    })
