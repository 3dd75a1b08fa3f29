"""The holder's pages: photos (/media/) and exclusions (/settings/exclusions/). Thin."""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import holder_required
from consent import purposes
from consent.selectors import consent_active_entry
from core.errors import ServiceError
from core.uow import Actor
from vault import gateway, gateway_core, ranges, selectors, services, shredding, trash
from vault.api import stream_response
from vault.forms import DateRangeForm, EraseForm, PlaceForm
from vault.uploads import TOO_LARGE_FLAG

PAGE_SIZE = 48


def upload_words() -> dict[str, str]:
    """Why a photo was not added, in words a person reads (keyed by the API's error codes; upload.js uses them too)."""
    limit_mb = settings.VAULT_MAX_UPLOAD_BYTES // (1024 * 1024)
    return {
        "consent_required": "Not added: Camera Roll Sharing Suggestions is off. Turn it on to add photos.",
        "file_too_large": f"Too large: a photo can be at most {limit_mb} MB.",
        "image_too_large": "Too large: this picture has too many pixels to open safely.",
        "invalid_image": "Not a photo we can read: the file is damaged or is not a picture.",
        "unsupported_media_type": "Not a kind of photo we keep: only JPEG, PNG, WebP and HEIC pictures can be added.",
        "invalid_video": "Not a video we can read: the file is damaged or is not an MP4 or QuickTime video.",
        "video_too_long": f"Too long: a video can last at most {settings.VIDEO_MAX_SECONDS // 60} minutes.",
        "video_too_large": "Too large: this video's frames have too many pixels.",
        "video_probe_failed": "Not added: reading this video failed or took too long. Nothing was kept.",
        "duplicate": "Already in your photos.",
        "failed": "Not added: something went wrong on our side. Try again.",
        "network": "Not added: the connection dropped. Try again.",
    }


def _not_found_as_404(exc: ServiceError):
    if exc.code == "not_found":
        raise Http404(exc.message) from None
    raise exc


@holder_required
@require_GET
def media_list(request):
    # A page of whole days, newest first: a day is never split across two pages.
    pages = selectors.media_timeline_pages(user_id=request.user.pk, per_page=PAGE_SIZE)
    page = Paginator(pages or [[]], 1).get_page(request.GET.get("page"))
    summary = selectors.media_summary(user_id=request.user.pk)
    return render(request, "vault/media.html", {
        "page": page,
        "timeline": selectors.media_timeline(user_id=request.user.pk, page=page.object_list[0]),
        "summary": summary,
        "live_items": summary["items"] - summary["trashed"] - (summary["videos"] - summary["videos_trashed"]),
        "live_videos": summary["videos"] - summary["videos_trashed"],
        "trash_days": settings.TRASH_DAYS,
        "uploads_on": consent_active_entry(user_id=request.user.pk, purpose=purposes.CAMERA_ROLL) is not None,
        "erase_form": EraseForm(),
        "upload_words": upload_words(),
        "upload_limit": settings.VAULT_MAX_UPLOAD_BYTES,
    })


@holder_required
@require_POST
def media_upload(request):
    """The upload form without JavaScript: every chosen photo in one request, one message for the lot."""
    files = request.FILES.getlist("files")  # parses the body (photos in memory, videos spooled: vault.uploads)
    words = upload_words()
    if getattr(request, TOO_LARGE_FLAG, False):
        services.upload_refused(user_id=request.user.pk, code="file_too_large", method="web")
        limit_mb = settings.VAULT_MAX_UPLOAD_BYTES // (1024 * 1024)
        messages.error(request, f"Nothing was added: the photos chosen add up to more than {limit_mb} MB. "
                                "Choose fewer at a time.")
        return redirect("vault:media")
    if not files:
        messages.error(request, "Choose one or more photos first.")
        return redirect("vault:media")
    added, duplicates, problems = 0, 0, []
    for upload in files:
        try:
            result = services.media_upload_received(user_id=request.user.pk, upload=upload, method="web")
        except ServiceError as exc:
            problems.append(f"{upload.name}: {words.get(exc.code, words['failed'])}")
            continue
        if result.duplicate:
            duplicates += 1
        else:
            added += 1
    if added:
        messages.success(request, f"Added {added} photo{'s' if added != 1 else ''}.")
    if duplicates:
        messages.info(request, f"{duplicates} {'was' if duplicates == 1 else 'were'} already in your photos.")
    for problem in problems:
        messages.error(request, problem)
    return redirect("vault:media")


def _content(request, item_id: int, variant: str):
    try:
        opened = gateway.owner_open(user_id=request.user.pk, item_id=item_id, variant=variant, include_trashed=True)
    except ServiceError as exc:
        _not_found_as_404(exc)
    suffix = "-thumbnail.jpg" if variant == "thumbnail" else ""
    return stream_response(opened, filename=f"media-{opened.meta.id}{suffix}")


@holder_required
@require_GET
def media_thumbnail(request, item_id: int):
    return _content(request, item_id, "thumbnail")


@holder_required
@require_GET
def media_original(request, item_id: int):
    """The holder's own copy; served with HTTP Range (206/416), so a video in the timeline seeks."""
    try:
        item = gateway_core.owner_ranged(user_id=request.user.pk, item_id=item_id)
        return ranges.ranged_response(request, size=item.size, content_type=item.content_type,
                                      open_range=item.open_range, etag=item.etag, filename=f"media-{item_id}")
    except ServiceError as exc:
        _not_found_as_404(exc)


@holder_required
@require_POST
def media_exclude(request, item_id: int):
    excluded = request.POST.get("excluded") == "1"
    try:
        services.media_set_excluded(user_id=request.user.pk, item_id=item_id, excluded=excluded)
    except ServiceError as exc:
        _not_found_as_404(exc)
    messages.success(request, "Kept out of suggestions." if excluded else "Suggestions may use it again.")
    return redirect("vault:media")


def _trash_days() -> str:
    return f"{settings.TRASH_DAYS} day{'s' if settings.TRASH_DAYS != 1 else ''}"


@holder_required
@require_POST
def media_delete(request, item_id: int):
    try:
        outputs = trash.media_trash(user_id=request.user.pk, item_ids=[item_id])
    except ServiceError as exc:
        _not_found_as_404(exc)
    made = ""
    if outputs:
        were = "was" if outputs == 1 else "were"
        made = f" {outputs} suggestion{'s' if outputs != 1 else ''} made from it {were} deleted."
    messages.success(request, f"Moved to the trash: you can restore it there for {_trash_days()}.{made}")
    return redirect("vault:media")


@holder_required
@require_POST
def media_bulk(request):
    """Several photos at once, chosen with the boxes on /media/: exclude, include, or move to the trash."""
    ids = request.POST.getlist("items")
    action = request.POST.get("action")
    if not ids:
        messages.error(request, "Tick the photos first, then choose what to do with them.")
        return redirect("vault:media")
    try:
        if action == "delete":
            trash.media_trash(user_id=request.user.pk, item_ids=ids)
            messages.success(request, f"Moved {len(ids)} photo{'s' if len(ids) != 1 else ''} to the trash: "
                                      f"you can restore them there for {_trash_days()}.")
        elif action in ("exclude", "include"):
            for item_id in ids:
                services.media_set_excluded(user_id=request.user.pk, item_id=item_id, excluded=action == "exclude")
            done = "kept out of suggestions." if action == "exclude" else "may be used in suggestions again."
            messages.success(request, f"{len(ids)} photo{'s' if len(ids) != 1 else ''} {done}")
        else:
            messages.error(request, "Choose Exclude, Include or Delete.")
    except ServiceError as exc:
        _not_found_as_404(exc)
    return redirect("vault:media")


@holder_required
@require_GET
def trash_list(request):
    page = Paginator(selectors.trash_list(user_id=request.user.pk).select_related("key"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    metas = selectors.media_metas(items=page.object_list)
    return render(request, "vault/trash.html", {
        "page": page,
        "rows": [(item, meta, trash.purge_due_at(item.trashed_at))
                 for item, meta in zip(page.object_list, metas, strict=True)],
        "trash_days": settings.TRASH_DAYS,
    })


@holder_required
@require_POST
def media_restore(request, item_id: int):
    try:
        trash.media_restore(user_id=request.user.pk, item_id=item_id)
    except ServiceError as exc:
        _not_found_as_404(exc)
    messages.success(request, "Restored: it is back with your photos.")
    return redirect("vault:trash")


@holder_required
@require_POST
def trash_empty(request):
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Nothing was deleted: confirm that you want to empty the trash.")
        return redirect("vault:trash")
    destroyed = trash.trash_empty(user_id=request.user.pk)
    photos = f"{destroyed} photo{'s' if destroyed != 1 else ''}"
    messages.success(request, f"Emptied the trash: {photos} destroyed for good.")
    return redirect("vault:trash")


@holder_required
@require_POST
def media_erase(request):
    form = EraseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Tick the box to confirm: erasing cannot be undone.")
        return redirect("vault:media")
    counts = shredding.media_erase_all(user_id=request.user.pk, actor=Actor.holder(request.user.pk))
    items, outputs = counts["items"], counts["outputs"]
    messages.success(request, f"Destroyed {items} photo{'s' if items != 1 else ''} and {outputs} "
                              f"suggestion{'s' if outputs != 1 else ''}. Your key is gone.")
    return redirect("vault:media")


@holder_required
@require_http_methods(["GET", "POST"])
def exclusions(request):
    date_form, place_form = DateRangeForm(prefix="dates"), PlaceForm(prefix="place")
    if request.method == "POST":
        kind = request.POST.get("kind")
        if kind == "date_range":
            date_form = DateRangeForm(request.POST, prefix="dates")
            if date_form.is_valid():
                services.exclusion_create_date_range(user_id=request.user.pk, **date_form.cleaned_data)
                messages.success(request, "Photos taken on those days are kept out of suggestions.")
                return redirect("vault:exclusions")
        elif kind == "place":
            place_form = PlaceForm(request.POST, prefix="place")
            if place_form.is_valid():
                services.exclusion_create_place(user_id=request.user.pk, **place_form.cleaned_data)
                messages.success(request, "Photos taken there are kept out of suggestions.")
                return redirect("vault:exclusions")
        else:
            messages.error(request, "Choose a date range or a place.")
    return render(request, "vault/exclusions.html", {
        "exclusions": selectors.exclusion_list(user_id=request.user.pk),
        "date_form": date_form,
        "place_form": place_form,
    }, status=400 if request.method == "POST" else 200)


@holder_required
@require_POST
def exclusion_delete(request, exclusion_id: int):
    try:
        services.exclusion_delete(user_id=request.user.pk, exclusion_id=exclusion_id)
    except ServiceError as exc:
        _not_found_as_404(exc)
    messages.success(request, "Exclusion removed.")
    return redirect("vault:exclusions")
