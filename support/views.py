"""Pages: the support console (agents) and the holder's access history and data pages.

Thin: parse the form, call one service or selector, render or redirect. Every
page works without JavaScript (plain forms with CSRF).
"""

from django.conf import settings
from django.contrib import messages
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import holder_required, support_required
from audit.holder_history import holder_history_download, holder_history_proof
from audit.selectors import audit_events_for_subject
from consent.held import media_words
from core.errors import ServiceError
from core.uow import Actor
from support import access_log, cases, charts, notices, rights, selectors, services
from support.filters import AccessLogFilterSet
from support.forms import (
    AccountSearchForm,
    CaseNoteForm,
    CaseOpenForm,
    EraseForm,
    HolderEraseForm,
    RevokeForm,
)
from vault import exports as vault_exports


def _agent(request) -> Actor:
    """Who acts: the signed-in support agent (support's services resolve and check the account)."""
    return Actor.support(request.user.pk)


def _or_404(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except ServiceError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        raise


# --- support console ---------------------------------------------------------


@support_required
@require_GET
def console(request):
    search = AccountSearchForm(request.GET or None)
    results = []
    if search.is_valid():
        results = selectors.account_find(query=search.cleaned_data["q"])
    agent_cases = selectors.cases_for_agent(actor=_agent(request))
    live = {case.subject_id: case for case in agent_cases if case.is_live}
    return render(request, "support/console.html", {
        "search": search,
        "results": [(account, live.get(account.pk), CaseOpenForm(initial={"subject": account.pk}))
                    for account in results],
        "cases": agent_cases,
        "searched": search.is_bound,
        "case_hours": getattr(settings, "SUPPORT_CASE_HOURS", 8),
    })


@support_required
@require_POST
def case_open(request):
    form = CaseOpenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A case needs a ticket reference and a reason.")
        return redirect(reverse("support:console") + f"?q={request.POST.get('subject', '')}")
    try:
        case = services.case_open(actor=_agent(request), user_id=form.cleaned_data["subject"],
                                  reason=form.cleaned_data["reason"], ticket=form.cleaned_data["ticket"])
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("support:console")
    messages.success(request, f"Case {case.pk} is open until {case.expires_at:%H:%M} UTC.")
    return redirect("support:subject", subject_id=case.subject_id)


@support_required
@require_POST
def case_close(request, case_id: int):
    case = _or_404(services.case_close, actor=_agent(request), case_id=case_id)
    messages.success(request, f"Case {case.pk} is closed; your access to that account has ended.")
    return redirect("support:console")


@support_required
@require_GET
def subject(request, subject_id: int):
    summary = _or_404(services.support_subject_summary, actor=_agent(request), user_id=subject_id)
    return render(request, "support/subject.html", {
        "summary": summary,
        "case": summary["case"],
        "revoke_form": RevokeForm(),
        "notes": notices.case_notes(case=summary["case"]),
        "note_form": CaseNoteForm(),
    })


@support_required
@require_POST
def subject_revoke(request, subject_id: int):
    form = RevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(error for errors in form.errors.values() for error in errors))
        return redirect("support:subject", subject_id=subject_id)
    # Say in words what is about to be turned off and destroyed, and for whom, before doing it: the
    # agent ticks the counts, and a change in them meanwhile (an upload) asks again.
    case = _or_404(cases.case_require, actor=_agent(request), user_id=subject_id, permission=cases.REVOKE)
    destroyed = selectors.destruction_preview(user_id=case.subject_id, purpose=form.cleaned_data["purpose"])
    problem = ""
    if form.cleaned_data["confirm"] and destroyed:
        if form.cleaned_data["destroys"] != selectors.destruction_key(destroyed):
            problem = "What this destroys has changed since the confirmation was shown: check the counts again."
        elif not form.cleaned_data["understood"]:
            problem = "Tick the box to confirm what this destroys."
    if not form.cleaned_data["confirm"] or problem:
        return render(request, "support/revoke_confirm.html", {
            "case": case, "form": form, "problem": problem, "destroyed": selectors.destruction_lines(destroyed),
            "destroyed_words": selectors.destruction_words(destroyed),
            "destroys_key": selectors.destruction_key(destroyed),
        })
    try:
        action = services.support_revoke(actor=_agent(request), user_id=subject_id,
                                         purpose=form.cleaned_data["purpose"], reason=form.cleaned_data["reason"])
    except ServiceError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
        return redirect("support:subject", subject_id=subject_id)
    label = dict(services.purpose_choices())[action.purpose]
    username = action.case.subject.username
    if action.changed:
        words = selectors.destruction_words((action.counts or {}).get("destroyed") or {})
        gone = f" Destroyed: {words}." if words else ""
        messages.success(request, f"{label} is now off for {username}.{gone} They will see a notice and get an email.")
    else:
        messages.info(request, f"{label} was already off for {username}; nothing changed.")
    return redirect("support:subject", subject_id=subject_id)


@support_required
@require_POST
def case_note_add(request, case_id: int):
    form = CaseNoteForm(request.POST)
    case = _or_404(notices.case_for_note, actor=_agent(request), case_id=case_id)
    if form.is_valid():
        notices.case_note_add(actor=_agent(request), case=case, text=form.cleaned_data["text"])
        messages.success(request, "Note added to the case.")
    else:
        messages.error(request, "A note needs some text.")
    return redirect(reverse("support:subject", args=[case.subject_id]) + "#notes")


@support_required
@require_http_methods(["GET", "POST"])
def subject_erase(request, subject_id: int):
    case = _or_404(cases.case_require, actor=_agent(request), user_id=subject_id, permission=cases.ERASE)
    form = EraseForm(request.POST or None, username=case.subject.username)
    destroyed = selectors.destruction_preview(user_id=case.subject_id)
    key = selectors.destruction_key(destroyed)
    if request.method == "POST" and form.is_valid():
        if destroyed and form.cleaned_data["destroys"] != key:
            form.add_error(None, "What this destroys has changed since the page was shown: check the counts again.")
        elif destroyed and not form.cleaned_data["understood"]:
            form.add_error("understood", "Tick the box to confirm what this destroys.")
        else:
            action = _or_404(services.support_erase, actor=_agent(request), user_id=subject_id,
                             reason=form.cleaned_data["reason"])
            words = selectors.destruction_words(action.counts.get("destroyed") or {}) or "nothing was held"
            messages.success(request, f"Erased for {case.subject.username}: {words}. Camera Roll Sharing "
                                      "Suggestions is off for them; they see a notice and get an email.")
            return redirect("support:subject", subject_id=subject_id)
    return render(request, "support/erase_confirm.html", {
        "case": case, "form": form, "destroyed": selectors.destruction_lines(destroyed),
        "destroyed_words": selectors.destruction_words(destroyed),
        "destroys_key": key,
    })


# --- the holder's rights -----------------------------------------------------


@holder_required
@require_GET
def me_access(request):
    filterset = AccessLogFilterSet(request.GET or None, queryset=audit_events_for_subject(subject_id=request.user.pk))
    filters = filterset.selector_filters() if filterset.is_valid() else {}  # invalid: everything, with the errors
    before = filters.pop("before", None)
    history = access_log.access_log_page(user_id=request.user.pk, before=before, **filters)
    counts = access_log.activity(user_id=request.user.pk, **filters)
    query = request.GET.copy()
    query.pop("before", None)
    query.pop("page", None)
    return render(request, "support/me_access.html", {
        "form": filterset.form,
        "history": history,
        "before": before,
        "activity": counts,
        "chart": charts.bar_chart(counts.hours, unit="hour") if counts.busy_day else charts.bar_chart(counts.days),
        "days": counts.days,
        "total": counts.total,
        "query": query.urlencode(),
        "proof": holder_history_proof(subject_id=request.user.pk),
        "checkpoint_seconds": settings.AUDIT_CHECKPOINT_SECONDS,
    })


@holder_required
@require_GET
def me_access_download(request):
    """The holder's access history as committed into the audit trail, with its proofs: a file they can check
    without the service (`tools/monitor.py --holder FILE`)."""
    bundle = holder_history_download(subject_id=request.user.pk)
    if bundle is None:
        raise Http404("Your access history is not committed into the audit trail yet.")
    response = JsonResponse(bundle, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = 'attachment; filename="access-history.json"'
    response["Cache-Control"] = "private, no-store"
    return response


@holder_required
@require_POST
def me_notice_dismiss(request, notice_id: int):
    _or_404(notices.notice_dismiss, user=request.user, notice_id=notice_id)
    return redirect(request.POST.get("next") if request.POST.get("next", "").startswith("/settings/")
                    else "consent:settings")


@holder_required
@require_GET
def me_data(request):
    exports = list(selectors.exports_for_holder(user_id=request.user.pk))
    for export in exports:
        # A ready export whose key or file is gone (photos destroyed since) offers no download.
        export.gone = export.status == "ready" and not vault_exports.export_available(
            user_id=request.user.pk, export_uid=export.pk)
    return render(request, "support/me_data.html", {
        "exports": exports,
        "held": rights.held_summary(user_id=request.user.pk),
        "export_days": getattr(settings, "SUPPORT_EXPORT_DAYS", 7),
    })


@holder_required
@require_POST
def me_export_create(request):
    rights.export_request(user=request.user)
    messages.success(request, "We are putting your export together. It appears below when it is ready.")
    return redirect("support:me-data")


@holder_required
@require_GET
def me_export_download(request, export_id):
    try:
        download = rights.export_download(user=request.user, export_id=export_id)
    except ServiceError as exc:
        if exc.status in (404, 410):
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
        return redirect("support:me-data")
    response = StreamingHttpResponse(download.chunks, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    response["Cache-Control"] = "no-store"
    return response


@holder_required
@require_http_methods(["GET", "POST"])
def me_erase(request):
    form = HolderEraseForm(request.POST or None)
    held = rights.held_summary(user_id=request.user.pk)
    if request.method == "POST" and form.is_valid():
        rights.cloud_media_erase(user=request.user)
        messages.success(request, f"Done: {media_words(held)} in the cloud and everything made from "
                                  "them were destroyed. Camera Roll Sharing Suggestions is off: your phone stays "
                                  "signed in and uploads nothing until you turn it on again.")
        return redirect("support:me-data")
    return render(request, "support/me_erase_confirm.html", {
        "form": form, "held": held, "held_media": media_words(held),
        "camera_roll_on": rights.camera_roll_on(user_id=request.user.pk),
    })
