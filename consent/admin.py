from django.contrib import admin

from consent.models import ConsentEntry, Notice
from core.admin import ReadOnlyAdmin


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    """Notices are published with `manage.py consent_publish_notice`, never edited."""

    list_display = ["purpose", "version", "title", "material", "published_at"]
    list_filter = ["purpose"]


@admin.register(ConsentEntry)
class ConsentEntryAdmin(ReadOnlyAdmin):
    list_display = ["record_id", "subject", "purpose", "event", "notice_version", "method", "created_at"]
    list_filter = ["purpose", "event", "method"]
    search_fields = ["record_id", "subject__username"]
