"""Writes of the suggestion engine: generation passes, accept and dismiss (jobs: suggestions.jobs).

Media is read only through vault.gateway (import-linter holds us to it): candidates() for
metadata, release() for thumbnails and originals, each read audited by the gateway as a
media.read with our purpose; outputs go back through output_store(), which re-checks consent
under the account lock and refuses if it was withdrawn meanwhile, so the output is discarded.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.context import reset_request_id, set_request_id
from consent import purposes
from consent.selectors import consent_active_entry
from core import places
from core.errors import ServiceError
from core.uow import Actor, account_write
from suggestions import grouping, people, planning, render, titles
from suggestions.models import ShareLink, Suggestion, SuggestionJob
from vault import gateway

log = logging.getLogger(__name__)

CONTENT_TYPES = {planning.COLLAGE: "image/jpeg", planning.RECAP: "image/webp", planning.STYLIZED: "image/jpeg"}
COLLAGE_MIN_PHOTOS = 3
MEMORY_MIN_PHOTOS = 2
TRIES_PER_SLOT = 3  # plans looked at per suggestion a pass may make
TITLE_MAX = 120  # characters of a title sealed on the output

@dataclass
class PassResult:
    status: str  # a SuggestionJob.Status value
    created: list[int] = field(default_factory=list)  # Suggestion ids
    discarded: int = 0
    error_code: str = ""  # why it was skipped, discarded or failed; or, done, why it made nothing


# Why a pass that ran made nothing: a code on the job, words on the page (selectors.PASS_REASONS).
NOTHING_NO_PHOTOS = "no_photos"
NOTHING_ALL_EXCLUDED = "all_excluded"
NOTHING_TOO_FEW = "too_few_photos"
NOTHING_NEW = "nothing_new"


class _ConsentWithdrawn(Exception):
    pass


# --------------------------------------------------------------------------- one generation pass


def _between_read_and_commit(*, user_id: int, plan: planning.Plan) -> None:
    """Nothing happens here; tests replace it to withdraw consent at exactly this moment."""


def _people(user_id: int, metas: list[gateway.ItemMeta]) -> list[grouping.PersonGroup]:
    """The holder's people among these photos, only with the face_analysis grant (photos not
    analysed yet are analysed first); without it nothing face-related is read or computed."""
    if not people.faces_granted(user_id=user_id):
        return []
    wanted = {m.id for m in metas}
    try:
        people.faces_analyse(user_id=user_id, item_ids=sorted(wanted))
        found = people.people_list(user_id=user_id)
    except gateway.GatewayDenied:
        return []
    return [
        grouping.PersonGroup(p.id, p.name, tuple(i for i in p.item_ids if i in wanted))
        for p in found
    ]


def _pick(plan: planning.Plan, ids: list[int], strength: dict[int, float]) -> list[int]:
    """The photos a plan will use, from its near-duplicate-free candidates (in order)."""
    if plan.kind == planning.STYLIZED:
        return [max(ids, key=lambda i: (strength.get(i, 0.0), -i))] if ids else []
    if plan.kind == planning.RECAP:
        if len(ids) < render.RECAP_MIN_PHOTOS:
            return []
        return list(planning._spread(ids, render.RECAP_MAX_PHOTOS))
    least = MEMORY_MIN_PHOTOS if plan.group.startswith("onthisday:") else COLLAGE_MIN_PHOTOS
    if len(ids) < least:
        return []
    return list(planning._spread(ids, planning.COLLAGE_MAX_PHOTOS))


def _render(plan: planning.Plan, released: list[gateway.ReleasedItem], meta: dict,
            clips: list[gateway.ReleasedRange] = ()) -> tuple[bytes, bytes | None]:
    """The output, and for a recap its MP4 too (the title card shows the title and the dates)."""
    sources = [render.Source.from_bytes(r.data) for r in released]
    if plan.kind == planning.COLLAGE:
        return render.collage(sources), None
    if plan.kind == planning.RECAP:
        card = {"title": meta["title"], "dates": titles.moment_dates(plan.first, plan.last),
                "clips": [render.Clip(frames=clip.frames) for clip in clips]}
        return render.recap(sources, **card), render.recap_video(sources, **card)
    return render.stylize(sources[0], plan.style), None


RECAP_MAX_CLIPS = 3
RECAP_CLIP_MS = 2500
RECAP_CLIP_FPS = 12  # the MP4 shows each clip frame twice: half the decoding, and a clip's motion still reads


def _recap_clips(*, user_id: int, purpose: str, plan: planning.Plan) -> list[gateway.ReleasedRange]:
    """A few seconds of up to RECAP_MAX_CLIPS videos of the recap's days, spread over them, each taken
    away from the start (a clip's first seconds are often the phone being raised)."""
    if plan.kind != planning.RECAP or plan.first is None or plan.last is None:
        return []
    tz = timezone.get_default_timezone()
    videos = sorted(
        (meta for meta in gateway.video_candidates(user_id=user_id, purpose=purpose)
         if meta.captured_at is not None and meta.duration_ms
         and plan.first <= grouping.naive_local(meta.captured_at, tz).date() <= plan.last),
        key=lambda meta: grouping.naive_local(meta.captured_at, tz),
    )
    if not videos:
        return []
    step = max(1, len(videos) / RECAP_MAX_CLIPS)
    chosen = [videos[int(i * step)] for i in range(min(RECAP_MAX_CLIPS, len(videos)))]
    ranges = []
    for meta in chosen:
        length = min(RECAP_CLIP_MS, meta.duration_ms)
        start = max(0, min(meta.duration_ms * 3 // 10, meta.duration_ms - length))
        ranges.append((meta.id, start, length))
    return gateway.release_ranges(user_id=user_id, purpose=purpose, ranges=ranges, fps=RECAP_CLIP_FPS,
                                  max_side=render.RECAP_VIDEO_SIZE)


def _choose(plans: list[planning.Plan], *, existing: set[str], limit: int) -> list[planning.Plan]:
    """The best new plans: first one per group, best group first, each time of the kind made
    least so far in this pass (collages, recaps and stylised images take turns); then the rest."""
    fresh = [plan for plan in plans if plan.key not in existing]
    by_group: dict[str, list[planning.Plan]] = {}
    for plan in fresh:  # best first, so groups come in order of their best plan
        by_group.setdefault(plan.group, []).append(plan)
    chosen: list[planning.Plan] = []
    for group_plans in by_group.values():
        if len(chosen) == limit:
            break
        made = Counter(plan.kind for plan in chosen)
        chosen.append(min(group_plans, key=lambda plan: (made[plan.kind], -plan.score)))
    for plan in fresh:
        if len(chosen) == limit:
            break
        if plan not in chosen:
            chosen.append(plan)
    return _vary_styles(chosen)


def _vary_styles(chosen: list[planning.Plan]) -> list[planning.Plan]:
    """Stylised images of one pass in different styles, each group's preferred one if still free."""
    used: set[str] = set()
    varied = []
    for plan in chosen:
        if plan.kind == planning.STYLIZED:
            styles = list(render.STYLES)
            start = styles.index(plan.style) if plan.style in styles else 0
            free = [styles[(start + n) % len(styles)] for n in range(len(styles))]
            style = next((s for s in free if s not in used), plan.style)
            used.add(style)
            plan = replace(plan, style=style)
        varied.append(plan)
    return varied


def suggestions_generate(
    *,
    user_id: int,
    job: SuggestionJob | None = None,
    limit: int | None = None,
    now: dt.datetime | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PassResult:
    """One generation pass for one holder: plan, read, render, store. Idempotent: a plan whose
    key the holder already has (made, accepted or dismissed) is not made again."""
    if consent_active_entry(user_id=user_id, purpose=purposes.CAMERA_ROLL) is None:
        return PassResult(SuggestionJob.Status.SKIPPED, error_code="consent_required")
    try:
        metas = gateway.candidates(user_id=user_id, purpose=gateway.PURPOSE_SUGGESTIONS)
        found_people = _people(user_id, metas)
    except gateway.GatewayDenied as exc:
        return PassResult(SuggestionJob.Status.SKIPPED, error_code=exc.code)

    plans = planning.plan_suggestions(
        metas,
        now=now or timezone.now(),
        namer=places.place_name,
        tz=timezone.get_default_timezone(),
        people=found_people,
    )
    existing = set(Suggestion.objects.filter(owner_id=user_id).values_list("idempotency_key", flat=True))
    limit = limit or settings.SUGGESTIONS_PER_PASS
    # Every new plan in the order to try them; a plan whose photos turn out to be near-duplicates
    # of one another makes nothing and the next one takes its place (up to a bound on reads).
    ordered = _choose(plans, existing=existing, limit=len(plans))[: limit * TRIES_PER_SLOT]
    result = PassResult(SuggestionJob.Status.DONE)
    steps = limit + 1
    if on_progress:
        on_progress(0, steps)
    if not ordered:
        if not metas:
            held = gateway.held_count(user_id=user_id)
            result.error_code = NOTHING_ALL_EXCLUDED if held else NOTHING_NO_PHOTOS
        else:
            result.error_code = NOTHING_NEW if plans else NOTHING_TOO_FEW
        if on_progress:
            on_progress(steps, steps)
        return result
    taken = _titles_taken(user_id)

    prints: dict[int, grouping.Fingerprint] = {}
    strength: dict[int, float] = {}

    def fingerprint(ids) -> None:
        """Thumbnails of the photos not seen yet this pass, in one batch."""
        wanted = sorted(set(ids) - set(prints))
        if not wanted:
            return
        for item in gateway.release(
            user_id=user_id, purpose=gateway.PURPOSE_SUGGESTIONS, item_ids=wanted, variant="thumbnail"
        ):
            image = render.decode(item.data)
            prints[item.meta.id] = grouping.fingerprint(image)
            strength[item.meta.id] = render.photo_strength(image)

    try:
        fingerprint(i for plan in ordered[:limit] for i in plan.item_ids)
        if on_progress:
            on_progress(1, steps)
        attempts = 0
        for plan in ordered:
            if attempts == limit:
                break
            fingerprint(plan.item_ids)
            candidates = [i for i in plan.item_ids if i in prints]
            unique = grouping.dedupe(candidates, prints, better=lambda new, kept: strength[new] > strength[kept] + 5)
            picked = _pick(plan, unique, strength)
            if not picked:
                continue
            attempts += 1
            try:
                made = _make(user_id=user_id, plan=plan, item_ids=picked, job=job, taken=taken)
            except (OSError, ValueError) as exc:  # a photo Pillow cannot read: skip this one suggestion
                log.warning("suggestion %s of user %s not made: %s", plan.kind, user_id, type(exc).__name__)
                made = None
            if made is None:
                result.discarded += 1
            else:
                result.created.append(made)
            if on_progress:
                on_progress(1 + attempts, steps)
    except _ConsentWithdrawn:
        result.status = SuggestionJob.Status.DISCARDED
        result.error_code = "consent_required"
        result.discarded += 1
    except gateway.GatewayDenied as exc:
        result.status = SuggestionJob.Status.DISCARDED
        result.error_code = exc.code
    return result


def _titles_taken(user_id: int) -> set[str]:
    """Titles of the holder's live suggestions (opened in one batch), so a new one differs."""
    output_ids = Suggestion.objects.filter(owner_id=user_id, output__isnull=False).values_list("output_id", flat=True)
    return {
        meta["title"] for meta in gateway.outputs_meta(user_id=user_id, output_ids=output_ids).values()
        if isinstance(meta.get("title"), str)
    }


def _make(
    *, user_id: int, plan: planning.Plan, item_ids: list[int], job: SuggestionJob | None, taken: set[str]
) -> int | None:
    """Read, render and store one suggestion, its reads and its output under one request id of
    their own (so the holder's access log can say what the photos were read for)."""
    token = set_request_id()
    try:
        return _read_render_store(user_id=user_id, plan=plan, item_ids=item_ids, job=job, taken=taken)
    finally:
        reset_request_id(token)


def _output_meta(plan: planning.Plan, *, taken: set[str]) -> dict:
    """What is sealed on the output: a title no other suggestion of the holder's has, and the
    moment's first and last day (the card shows them)."""
    title = titles.distinct(plan.full_title[: TITLE_MAX - 40], taken=taken, first=plan.first, last=plan.last)
    meta = {"title": title[:TITLE_MAX]}
    if plan.first and plan.last:
        meta["first"], meta["last"] = plan.first.isoformat(), plan.last.isoformat()
    return meta


def _read_render_store(
    *, user_id: int, plan: planning.Plan, item_ids: list[int], job: SuggestionJob | None, taken: set[str]
) -> int | None:
    """None if the output was refused because a source went meanwhile; _ConsentWithdrawn if consent did."""
    purpose = gateway.PURPOSE_FACES if plan.faces else gateway.PURPOSE_SUGGESTIONS
    released = gateway.release(user_id=user_id, purpose=purpose, item_ids=item_ids, variant="original")
    by_id = {r.meta.id: r for r in released}
    if len(by_id) < len(item_ids):
        # Some were excluded or deleted since the thumbnails were read: make do if enough remain.
        item_ids = _pick(plan, [i for i in item_ids if i in by_id], {})
        if not item_ids:
            return None
    meta = _output_meta(plan, taken=taken)
    clips = _recap_clips(user_id=user_id, purpose=purpose, plan=plan)
    data, video = _render(plan, [by_id[i] for i in item_ids], meta, clips)
    del released, by_id
    _between_read_and_commit(user_id=user_id, plan=plan)
    source_ids = sorted([*item_ids, *(clip.meta.id for clip in clips)])
    # The output and the suggestion row that names it are one unit of work on the account.
    with account_write(user_id=user_id, actor=Actor.service("suggestions")):
        try:
            output_id = gateway.output_store(
                user_id=user_id,
                purpose=purpose,
                kind=plan.kind,
                source_ids=source_ids,
                data=data,
                content_type=CONTENT_TYPES[plan.kind],
                meta=meta,
            )
            video_id = None
            if video is not None:
                video_id = gateway.output_store(
                    user_id=user_id, purpose=purpose, kind="recap_video", source_ids=source_ids, data=video,
                    content_type="video/mp4",
                )
        except gateway.GatewayDenied:
            # Committed with the denial's audit event; was it consent, or a source that went?
            denied = True
        else:
            denied = False
            try:
                with transaction.atomic():
                    suggestion = Suggestion.objects.create(
                        owner_id=user_id,
                        kind=plan.kind,
                        source_count=len(source_ids),
                        output_id=output_id,
                        video_output_id=video_id,
                        idempotency_key=plan.key,
                        job=job,
                    )
            except IntegrityError:
                # Made by a concurrent pass meanwhile: keep theirs, drop ours.
                for made in (output_id, video_id):
                    if made is not None:
                        gateway.output_delete(user_id=user_id, output_id=made)
                return None
    if denied:
        if consent_active_entry(user_id=user_id, purpose=purposes.CAMERA_ROLL) is None:
            raise _ConsentWithdrawn
        return None
    taken.add(meta["title"])
    return suggestion.pk


# --------------------------------------------------------------------------- the holder's decisions


def _own(*, user_id: int, suggestion_id) -> Suggestion:
    try:
        return (
            Suggestion.objects.select_for_update()
            .exclude(status=Suggestion.Status.DISMISSED)
            .get(owner_id=user_id, pk=int(suggestion_id))
        )
    except (Suggestion.DoesNotExist, ValueError, TypeError):
        raise ServiceError("not_found", "No such suggestion.") from None


def suggestion_accept(*, user_id: int, suggestion_id) -> Suggestion:
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        suggestion = _own(user_id=user_id, suggestion_id=suggestion_id)
        if suggestion.status != Suggestion.Status.ACCEPTED:
            suggestion.status = Suggestion.Status.ACCEPTED
            suggestion.decided_at = timezone.now()
            suggestion.save(update_fields=["status", "decided_at"])
            uow.record(uow.event(action="suggestion.accepted", object_type="suggestion", object_id=suggestion.pk,
                                 details={"kind": suggestion.kind}))
        return suggestion


def suggestion_dismiss(*, user_id: int, suggestion_id) -> None:
    """The output (and the title sealed on it) is deleted from the vault; the row stays, emptied,
    so it is not made again."""
    with account_write(user_id=user_id, actor=Actor.holder(user_id)) as uow:
        suggestion = _own(user_id=user_id, suggestion_id=suggestion_id)
        outputs = [suggestion.output_id, suggestion.video_output_id]
        suggestion.status = Suggestion.Status.DISMISSED
        suggestion.decided_at = timezone.now()
        suggestion.output = suggestion.video_output = None
        suggestion.save(update_fields=["status", "decided_at", "output", "video_output"])
        links = ShareLink.objects.filter(suggestion=suggestion).delete()[0]  # dead at once
        uow.record(uow.event(action="suggestion.dismissed", object_type="suggestion", object_id=suggestion.pk,
                             details={"kind": suggestion.kind, "share_links": links}))
        for output_id in outputs:
            if output_id is not None:
                gateway.output_delete(user_id=user_id, output_id=output_id)


def suggestions_forget(*, user_id: int) -> int:
    """On withdrawal: every suggestion row goes, the dismissed ones too (their outputs are
    deleted by the vault in the same unit of work); a later opt-in starts afresh. The caller
    cancels the queued passes first (suggestions.jobs, which builds on this module)."""
    deleted, _ = Suggestion.objects.filter(owner_id=user_id).delete()
    return deleted
