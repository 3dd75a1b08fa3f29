import contextlib
from collections.abc import Iterator

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import holder_required
from core.errors import ServiceError
from suggestions import jobs, people, selectors, services, sharing
from suggestions import render as suggestion_render
from suggestions.api import content_response
from suggestions.models import SuggestionJob
from vault import gateway


@holder_required
@require_GET
def suggestion_list(request):
    user_id = request.user.pk
    job = selectors.suggestion_job_latest(user_id=user_id)
    # A pass queued after uploads waits out the debounce: nothing is working yet, and the button
    # (which brings that pass forward) stays usable; the page refreshes only for a pass that is due.
    waiting = job is not None and job.status == SuggestionJob.Status.QUEUED and job.run_after > timezone.now()
    suggestions = selectors.suggestions_titled(
        user_id=user_id, suggestions=selectors.suggestion_list(user_id=user_id)[:60]
    )
    links = _links_by_suggestion(user_id)
    for suggestion in suggestions:
        suggestion.links = links.get(suggestion.pk, [])
    return render(request, "suggestions/list.html", {
        "feature_on": selectors.suggestions_feature_on(user_id=user_id),
        "suggestions": suggestions,
        "job": job,
        "reason": selectors.pass_reason(job),
        "new_link": request.session.pop("new_share_link", None),
        "display_name": request.session.get("share_display_name", ""),
        "display_name_max": sharing.DISPLAY_NAME_MAX,
        "waiting": waiting,
        "working": job is not None and not waiting
        and job.status in (SuggestionJob.Status.QUEUED, SuggestionJob.Status.RUNNING),
    })


def _links_by_suggestion(user_id: int) -> dict:
    links: dict[int, list] = {}
    for link in sharing.share_links_list(user_id=user_id):
        link.state = sharing.link_state(link)
        if link.state == "active":
            links.setdefault(link.suggestion_id, []).append(link)
    return links


@holder_required
@require_POST
def suggestion_generate(request):
    try:
        jobs.suggestion_job_request(user_id=request.user.pk)
        messages.success(request, "Making suggestions from your photos. This page updates when they are ready.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("suggestions:list")


@contextlib.contextmanager
def _not_found_as_404() -> Iterator[None]:
    """A suggestion that is not there, or not this holder's, is the 404 page; other errors go on."""
    try:
        yield
    except ServiceError as exc:
        if exc.code == "not_found":
            raise Http404 from None
        raise


def _content(request, pk: int, *, download: bool):
    with _not_found_as_404():
        content = selectors.suggestion_content(
            user_id=request.user.pk, suggestion_id=pk, video=request.GET.get("format") == "mp4"
        )
    return content_response(content, download=download)


@holder_required
@require_GET
def suggestion_preview(request, pk: int):
    return _content(request, pk, download=False)


@holder_required
@require_GET
def suggestion_download(request, pk: int):
    """The output as a file to save (a recap's MP4 with ?format=mp4)."""
    return _content(request, pk, download=True)


@holder_required
@require_GET
def suggestion_video(request, pk: int):
    """A recap's MP4 for the page's <video>, with HTTP Range so it seeks (206 / 416); the owner's only."""
    with _not_found_as_404():
        video = selectors.suggestion_video(user_id=request.user.pk, suggestion_id=pk)
        return gateway.ranged_response(
            request, size=video.size, content_type=video.content_type, open_range=video.open_range,
            etag=video.etag, filename=f"suggestion-{pk}.mp4",
        )


@holder_required
@require_GET
def suggestion_poster(request, pk: int):
    with _not_found_as_404():
        data = selectors.suggestion_poster(user_id=request.user.pk, suggestion_id=pk)
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@holder_required
@require_POST
def suggestion_share(request, pk: int):
    """A new share link, shown once on the page."""
    try:
        made = sharing.share_link_create(user_id=request.user.pk, suggestion_id=pk,
                                         display_name=request.POST.get("display_name", ""))
    except ServiceError as exc:
        if exc.code == "not_found":
            raise Http404 from None
        messages.error(request, exc.message)
        return redirect("suggestions:list")
    url = request.build_absolute_uri(f"/s/{made.token}/")
    messages.success(request, f"Link made: anyone who has it can see this until {made.link.expires_at:%-d %B}.")
    request.session["new_share_link"] = {"suggestion": made.link.suggestion_id, "url": url}
    # The next link's name field starts with this one (kept in the session only, never on the account).
    request.session["share_display_name"] = made.link.display_name
    return redirect("suggestions:list")


@holder_required
@require_POST
def share_link_revoke(request, link_id: int):
    return _on_own(request, lambda: sharing.share_link_revoke(user_id=request.user.pk, link_id=link_id),
                   "The link no longer works.")


# --------------------------------------------------------------------------- opened by anyone with the link


@require_GET
def shared_page(request, token: str):
    try:
        shared = sharing.shared_page(token=token)
    except ServiceError:
        raise Http404 from None
    response = render(request, "suggestions/shared.html", {"token": token, "shared": shared})
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def shared_content(request, token: str):
    if request.GET.get("format") == "mp4" and request.GET.get("download") != "1":
        return _shared_video(request, token)
    try:
        content = sharing.share_open(token=token, video=request.GET.get("format") == "mp4")
    except ServiceError:
        raise Http404 from None
    response = content_response(content, download=request.GET.get("download") == "1")
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


@holder_required
@require_POST
def suggestion_accept(request, pk: int):
    return _on_own(request, lambda: services.suggestion_accept(user_id=request.user.pk, suggestion_id=pk),
                   "Marked as shared.")


@holder_required
@require_POST
def suggestion_dismiss(request, pk: int):
    return _on_own(request, lambda: services.suggestion_dismiss(user_id=request.user.pk, suggestion_id=pk),
                   "Dismissed and deleted. It will not be suggested again.")


def _on_own(request, action, done: str):
    """A holder's action on one of their own suggestions or links: any refusal (another holder's, or
    gone) is a 404; success says `done` on the list."""
    try:
        action()
    except ServiceError as exc:
        raise Http404 from exc
    messages.success(request, done)
    return redirect("suggestions:list")


# --------------------------------------------------------------------------- people (face_analysis only)


def _faces_off(request):
    return render(request, "suggestions/people.html", {"faces_on": False, "people": []}, status=200)


@holder_required
@require_GET
def people_page(request):
    user_id = request.user.pk
    if not people.faces_granted(user_id=user_id):
        return _faces_off(request)
    try:
        found = people.people_list(user_id=user_id, include_hidden=True)
    except ServiceError as exc:
        if exc.code == "consent_required":
            return _faces_off(request)
        raise
    shown = [p for p in found if not p.hidden]
    return render(request, "suggestions/people.html", {
        "faces_on": True,
        "people": shown,
        "unnamed": sum(1 for p in shown if not p.name),
        "hidden_people": [p for p in found if p.hidden],
        "name_max": people.NAME_MAX,
        "feature_on": selectors.suggestions_feature_on(user_id=user_id),
    })


@holder_required
@require_POST
def people_names(request):
    """The grid of faces' one form: a name-<id> field per face shown."""
    names = {key[5:]: value for key, value in request.POST.items() if key.startswith("name-")}
    try:
        changed = people.people_name(user_id=request.user.pk, names=names)
    except ServiceError as exc:
        if exc.code in ("not_found", "consent_required"):
            raise Http404 from None
        messages.error(request, exc.message)
        return redirect("suggestions:people")
    if changed:
        messages.success(request, f"Saved {changed} name{'s' if changed != 1 else ''}. Suggestions made from now on "
                                  "can say who is in them.")
    else:
        messages.info(request, "No name changed.")
    return redirect("suggestions:people")


@holder_required
@require_GET
def person_page(request, pk: int):
    """One person: their face, their name, the photos they are in, and hide or merge."""
    user_id = request.user.pk
    if not people.faces_granted(user_id=user_id):
        raise Http404
    try:
        found = people.people_list(user_id=user_id, include_hidden=True)
    except ServiceError as exc:
        if exc.code == "consent_required":
            raise Http404 from None
        raise
    person = next((p for p in found if str(p.id) == str(pk)), None)
    if person is None:
        raise Http404
    return render(request, "suggestions/person.html", {
        "person": person,
        "others": [p for p in found if p.id != person.id and not p.hidden],
        "name_max": people.NAME_MAX,
    })


@holder_required
@require_GET
def person_face(request, pk: int):
    """The person's face, cropped from the photo where it is largest (the holder's own read)."""
    try:
        person = people.person_get(user_id=request.user.pk, person_id=pk)
        data = render_face(request.user.pk, person)
    except ServiceError as exc:
        if exc.code in ("not_found", "consent_required"):
            raise Http404 from None
        raise
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def render_face(user_id: int, person: people.PersonView) -> bytes:
    opened = gateway.owner_open(user_id=user_id, item_id=person.cover_item_id, variant="thumbnail")
    return face_crop(b"".join(opened.chunks), person.cover_box)


def face_crop(data: bytes, box, size: int = 160) -> bytes:
    """A square around the face with some room, size pixels."""
    image = suggestion_render.decode(data)
    left, top, right, bottom = box
    cx, cy = (left + right) / 2 * image.width, (top + bottom) / 2 * image.height
    half = max((right - left) * image.width, (bottom - top) * image.height) * 0.8
    crop = image.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    return suggestion_render.encode_jpeg(crop.resize((size, size)))


def _person_action(request, pk: int, **changes) -> None:
    try:
        people.person_update(user_id=request.user.pk, person_id=pk, **changes)
    except ServiceError as exc:
        if exc.code in ("not_found", "consent_required"):
            raise Http404 from None
        messages.error(request, exc.message)


@holder_required
@require_POST
def person_name(request, pk: int):
    _person_action(request, pk, name=request.POST.get("name", ""))
    return _back(request, pk)


@holder_required
@require_POST
def person_hide(request, pk: int):
    _person_action(request, pk, hidden=request.POST.get("hidden", "1") == "1")
    return _back(request, pk)


def _back(request, pk: int):
    """To the person's page when the form was on it, else to the grid of people."""
    if request.POST.get("next") == "person":
        return redirect("suggestions:person", pk=pk)
    return redirect("suggestions:people")


@holder_required
@require_POST
def person_merge(request, pk: int):
    try:
        people.person_merge(user_id=request.user.pk, person_id=pk, other_id=request.POST.get("person"))
        messages.success(request, "Merged: they are one person now.")
    except ServiceError as exc:
        if exc.code in ("not_found", "consent_required"):
            raise Http404 from None
        messages.error(request, exc.message)
    return redirect("suggestions:people")


def _shared_video(request, token: str):
    """A shared recap's MP4 for the recipient's <video>, with HTTP Range so it seeks."""
    try:
        video = sharing.share_open_video(token=token)
        response = gateway.ranged_response(request, size=video.size, content_type=video.content_type,
                                           open_range=video.open_range, etag=video.etag)
    except ServiceError:
        raise Http404 from None
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response
