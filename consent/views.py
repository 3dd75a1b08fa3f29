from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts import tokens
from accounts.decorators import holder_required
from consent import purposes, receipts, selectors, services
from consent.held import held_summary, media_words
from consent.models import ConsentEntry
from core.errors import ServiceError

# Turning these off destroys something, so the page asks first (the API, for the phone app, does not).
CONFIRM_BEFORE_OFF = (purposes.CAMERA_ROLL, purposes.FACE_ANALYSIS)


def _asks_first(*, user_id: int, purpose: str) -> bool:
    """A turn-off asks first when it destroys something: held photos or what was made from them."""
    if purpose not in CONFIRM_BEFORE_OFF:
        return False
    held = held_summary(user_id=user_id)
    return bool(held["items"] or held["outputs"])


def _granted(user_id: int) -> set[str]:
    return {s.purpose for s in selectors.consent_state(user_id=user_id) if s.granted}


def turn_off_facts(*, user_id: int, purpose: str) -> dict:
    """What turning `purpose` off will do, counted now, for the confirmation and the message after it."""
    held = held_summary(user_id=user_id)
    granted = _granted(user_id)
    also_off = [purposes.PURPOSE_LABELS[d] for d, r in services.REQUIRES.items() if r == purpose and d in granted]
    grace = settings.WITHDRAWAL_GRACE_DAYS
    return {
        "purpose": purpose,
        "label": purposes.PURPOSE_LABELS[purpose],
        "items": held["items"],
        "media": media_words(held),  # "3 photos and 1 video"
        "outputs": held["outputs"],
        "also_off": also_off,
        "grace_days": grace,
        "shred_on": timezone.now() + timedelta(days=grace) if grace else None,
    }


def _after_off_message(facts: dict) -> str:
    label = facts["label"]
    if facts["purpose"] == purposes.FACE_ANALYSIS:
        return f"{label} is off. Access stopped at once and the groups of people were deleted."
    outputs = facts["outputs"]
    made = f"{outputs} suggestion{'s' if outputs != 1 else ''}"
    photos = facts["media"]
    if facts["grace_days"]:
        return (f"{label} is off. Access stopped at once and {made} were deleted; your {photos} will be destroyed "
                f"on {facts['shred_on']:%d %b %Y} unless you turn it on again before then.")
    return f"{label} is off. Access stopped at once: {photos} and {made} were destroyed."


@holder_required
@require_http_methods(["GET", "POST"])
def camera_roll_settings(request):
    if request.method == "POST":
        purpose = request.POST.get("purpose", "")
        turn_on = request.POST.get("action") == "on"
        label = purposes.PURPOSE_LABELS.get(purpose, purpose)
        if not turn_on and request.POST.get("confirmed") != "yes" and _asks_first(user_id=request.user.pk,
                                                                                   purpose=purpose):
            return redirect("consent:turn-off", purpose=purpose)
        try:
            if turn_on:
                services.consent_give(user=request.user, purpose=purpose,
                                      notice_version=request.POST.get("notice_version", ""),
                                      method=ConsentEntry.Method.WEB)
                messages.success(request, f"{label} is on.")
            else:
                facts = turn_off_facts(user_id=request.user.pk, purpose=purpose) if purpose in CONFIRM_BEFORE_OFF \
                    else {"purpose": purpose, "label": label}
                entry = services.consent_withdraw(user=request.user, purpose=purpose,
                                                  method=ConsentEntry.Method.WEB)
                if entry is None:
                    messages.info(request, f"{label} was already off.")
                elif purpose in CONFIRM_BEFORE_OFF:
                    messages.success(request, _after_off_message(facts))
                else:
                    messages.success(request, f"{label} is off. Access stopped at once.")
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect("consent:settings")
    history = list(selectors.consent_history(user_id=request.user.pk)[:50])
    genuine = selectors.consent_entries_genuine(entries=history)
    for entry in history:
        entry.genuine = entry.pk in genuine
    states = selectors.consent_state(user_id=request.user.pk)
    return render(request, "consent/camera_roll.html", {
        "states": states,
        # "What we hold" says what comes next, which depends on these two.
        "uploads_on": any(s.purpose == purposes.CAMERA_ROLL and s.granted for s in states),
        "devices": len(tokens.tokens_of(user=request.user)),
        "history": history,
        "labels": purposes.PURPOSE_LABELS,
        "held": held_summary(user_id=request.user.pk),
        "confirm_before_off": CONFIRM_BEFORE_OFF,
    })


@holder_required
@require_GET
def turn_off_confirm(request, purpose: str):
    """The question before a destructive turn-off, as a page (without JavaScript) and as the dialog's text."""
    if purpose not in CONFIRM_BEFORE_OFF:
        raise Http404("Nothing to confirm for this purpose.")
    if purpose not in _granted(request.user.pk):
        messages.info(request, f"{purposes.PURPOSE_LABELS[purpose]} is already off.")
        return redirect("consent:settings")
    facts = turn_off_facts(user_id=request.user.pk, purpose=purpose)
    return render(request, "consent/turn_off_confirm.html", {
        "facts": facts,
        "done_message": _after_off_message(facts),
        "export_url": reverse("support:me-data") + "#export-heading",
    })


@holder_required
@require_GET
def receipt(request, record_id: str):
    """One consent receipt as a page a person reads; the signed JSON is a download from the API."""
    try:
        entry = selectors.consent_entry_verified(user_id=request.user.pk, record_id=record_id)
    except ServiceError as exc:
        if exc.code != "entry_unverified":
            raise Http404("No such receipt.") from None
        return render(request, "consent/receipt_unverified.html", status=409)
    except ValueError:
        raise Http404("No such receipt.") from None
    signed = receipts.receipt_sign(entry)
    return render(request, "consent/receipt.html", {"entry": entry, "signed": signed,
                                                    "payload": signed["receipt"]})
