from datetime import UTC, datetime, time, timedelta

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from audit import selectors
from audit.charts import daily_chart
from audit.forms import AuditFilterForm
from audit.permissions import auditor_required
from audit.verification import audit_verify

CHART_DEFAULT_DAYS = 30
CHART_MAX_DAYS = 120


def _filters(form: AuditFilterForm) -> dict:
    if not form.is_valid():
        return {}
    data = form.cleaned_data
    return {
        "since": datetime.combine(data["since"], time.min, tzinfo=UTC) if data.get("since") else None,
        "until": datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=UTC)
        if data.get("until") else None,
        "subject_id": data.get("subject"),
        "actor": data.get("actor") or None,
        "action": data.get("action") or None,
        "outcome": data.get("outcome") or None,
    }


@auditor_required
@require_http_methods(["GET", "POST"])
def audit_trail(request):
    """Filters, a chart of events per day by outcome, the matching events, export links, chain status.
    POST runs a full verification of the chain."""
    form = AuditFilterForm(request.GET or None)
    filters = _filters(form)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}

    end = data.get("until") or timezone.now().astimezone(UTC).date()
    start = data.get("since") or end - timedelta(days=CHART_DEFAULT_DAYS - 1)
    chart_clipped = (end - start).days + 1 > CHART_MAX_DAYS
    if chart_clipped:
        start = end - timedelta(days=CHART_MAX_DAYS - 1)
    chart = daily_chart(selectors.audit_daily_counts(start=start, end=end, **filters))

    page = Paginator(selectors.audit_events_filtered(**filters).order_by("-seq"), 50).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/trail.html", {
        "form": form,
        "chart": chart,
        "chart_start": start,
        "chart_end": end,
        "chart_clipped": chart_clipped,
        "page": page,
        "query": query.urlencode(),
        "status": selectors.audit_chain_status(),
        "verification": audit_verify() if request.method == "POST" else None,
    })
