from datetime import UTC, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from audit import jobs, selectors, sentences
from audit.canonical import ACTOR_KINDS
from audit.charts import daily_chart
from audit.filters import AuditTrailFilterSet
from audit.permissions import auditor_required
from core import signing
from core.uow import Actor

CHART_DEFAULT_DAYS = 30
CHART_MAX_DAYS = 120
PAGE_SIZE = 50


@auditor_required
@require_http_methods(["GET", "POST"])
def audit_trail(request):
    """Filters, a chart of events per day by outcome, the matching events in words, export links,
    the chain status and the latest full verification. POST queues a verification job."""
    if request.method == "POST":
        job = jobs.verification_request(actor=Actor.auditor(request.user.pk))
        messages.info(request, f"Verification {job.pk} is running in the background; this page shows its progress.")
        return redirect(request.get_full_path())

    filterset = AuditTrailFilterSet(request.GET or None, queryset=selectors.audit_events_filtered())
    valid = not filterset.is_bound or filterset.is_valid()
    data = filterset.form.cleaned_data if filterset.is_bound and valid else {}
    # A filter that did not resolve matches nothing, never everything.
    filters = filterset.selector_filters() if valid else {"subject_id": -1}
    events = filterset.qs if valid else filterset.queryset.none()

    # The chart's days: the filters' (`until` is the exclusive end), the last 30 by default.
    end = (filters["until"] - timedelta(microseconds=1)).astimezone(UTC).date() if filters.get("until") \
        else timezone.now().astimezone(UTC).date()
    start = filters["since"].astimezone(UTC).date() if filters.get("since") \
        else end - timedelta(days=CHART_DEFAULT_DAYS - 1)
    chart_clipped = (end - start).days + 1 > CHART_MAX_DAYS
    if chart_clipped:
        start = end - timedelta(days=CHART_MAX_DAYS - 1)
    chart = daily_chart(selectors.audit_daily_counts(start=start, end=end, **filters))

    page = Paginator(events.order_by("-seq"), PAGE_SIZE).get_page(request.GET.get("page"))
    # Rows that fail their MAC or column check are left out as the page is read: say so, since the
    # count (rows up to the chain head) cannot tell them without checking every row.
    hidden = (page.end_index() - page.start_index() + 1 - len(page.object_list)) if page.paginator.count else 0
    names = sentences.account_names(sentences.ids_to_name(page.object_list))
    rows = [{
        "event": event,
        "sentence": sentences.sentence(event, names),
        "actor": sentences.actor_words(event, names),
        "subject_name": names.get(str(event.subject_id), "") if event.subject_id is not None else "",
    } for event in page.object_list]

    query = request.GET.copy()
    query.pop("page", None)
    export_query = urlencode(filterset.export_query()) if filterset.is_bound and valid else ""
    latest = jobs.verification_latest()
    return render(request, "audit/trail.html", {
        "form": filterset.form,
        "chart": chart,
        "chart_start": start,
        "chart_end": end,
        "chart_clipped": chart_clipped,
        "page": page,
        "hidden": hidden,
        "rows": rows,
        "query": query.urlencode(),
        "export_query": export_query,
        "subject": data.get("subject"),
        "actor": data.get("actor"),
        "actor_kinds": ACTOR_KINDS,
        "status": selectors.audit_chain_status(),
        "verification": latest,
        "last_verified": latest if latest and latest.status == "done" else
        jobs.verification_last_finished(),
    })


@auditor_required
@require_GET
def public_key_pem(request):
    """The key that signs checkpoints, as the PEM file the offline verifier takes
    (tools/verify_audit_export.py --public-key audit-public-key.pem)."""
    response = HttpResponse(signing.public_key_pem("AUDIT_SIGNING_KEY"), content_type="application/x-pem-file")
    response["Content-Disposition"] = 'attachment; filename="audit-public-key.pem"'
    return response
