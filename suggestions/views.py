from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import holder_required
from consentsvc.errors import ServiceError
from suggestions import jobs, selectors, services
from suggestions.api import content_response
from suggestions.models import SuggestionJob


@holder_required
@require_GET
def suggestion_list(request):
    user_id = request.user.pk
    job = selectors.suggestion_job_latest(user_id=user_id)
    # A pass queued after uploads waits out the debounce: nothing is working yet, and the button
    # (which brings that pass forward) stays usable; the page refreshes only for a pass that is due.
    waiting = job is not None and job.status == SuggestionJob.Status.QUEUED and job.run_after > timezone.now()
    return render(request, "suggestions/list.html", {
        "feature_on": selectors.suggestions_feature_on(user_id=user_id),
        "suggestions": selectors.suggestions_titled(
            user_id=user_id, suggestions=selectors.suggestion_list(user_id=user_id)[:60]
        ),
        "job": job,
        "waiting": waiting,
        "working": job is not None and not waiting
        and job.status in (SuggestionJob.Status.QUEUED, SuggestionJob.Status.RUNNING),
    })


@holder_required
@require_POST
def suggestion_generate(request):
    try:
        jobs.suggestion_job_request(user_id=request.user.pk)
        messages.success(request, "Making suggestions from your photos. This page updates when they are ready.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("suggestions:list")


@holder_required
@require_GET
def suggestion_preview(request, pk: int):
    try:
        content = selectors.suggestion_content(user_id=request.user.pk, suggestion_id=pk)
    except ServiceError as exc:
        if exc.code == "not_found":
            raise Http404 from None
        raise
    return content_response(content)


@holder_required
@require_POST
def suggestion_accept(request, pk: int):
    try:
        services.suggestion_accept(user_id=request.user.pk, suggestion_id=pk)
    except ServiceError as exc:
        raise Http404 from exc
    messages.success(request, "Marked as shared.")
    return redirect("suggestions:list")


@holder_required
@require_POST
def suggestion_dismiss(request, pk: int):
    try:
        services.suggestion_dismiss(user_id=request.user.pk, suggestion_id=pk)
    except ServiceError as exc:
        raise Http404 from exc
    messages.success(request, "Dismissed and deleted. It will not be suggested again.")
    return redirect("suggestions:list")
