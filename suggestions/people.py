"""People in the holder's photos: face analysis, grouping, and the holder's names for them.

Only with face_analysis granted (invariant 11). Photos are read through the gateway under
the face-grouping purpose (audited, one media.read each) and decoded at most 1024 pixels;
faces, embeddings and the people they belong to are sealed under the holder's faces key
(gateway.faces_sealing) on FaceScan rows, names on Person rows. Without the grant nothing
here reads, computes or stores anything, and the holder's people are not shown.
"""

from __future__ import annotations

import array
import base64
import logging
from dataclasses import dataclass, field

from django.db import IntegrityError

from consent import purposes
from consent.selectors import consent_active_entry
from consent.uow import Actor
from core.errors import ServiceError, register_code
from suggestions import faces, render
from suggestions.models import FaceScan, Person
from vault import gateway

log = logging.getLogger(__name__)

INVALID_PERSON = register_code("invalid_person", 400, "The name or merge asked for is not valid.")
NAME_MAX = 64
BATCH = 8  # photos read and analysed per gateway read


def faces_granted(*, user_id: int) -> bool:
    return consent_active_entry(user_id=user_id, purpose=purposes.FACE_ANALYSIS) is not None


def _pack(embedding) -> str:
    return base64.b64encode(array.array("f", embedding).tobytes()).decode()


def _unpack(value: str) -> tuple[float, ...]:
    return tuple(array.array("f", base64.b64decode(value)))


# --------------------------------------------------------------------------- reading what is sealed


@dataclass
class _Scan:
    item_id: int
    faces: list[dict]  # {"box": [l, t, r, b], "embedding": packed, "person": id}


def _scans(user_id: int) -> list[_Scan]:
    rows = list(FaceScan.objects.filter(owner_id=user_id).order_by("id"))
    opened = gateway.faces_open(user_id=user_id, sealed=[(r.key_id, r.uid.bytes, bytes(r.sealed)) for r in rows])
    return [_Scan(r.item_id, payload.get("faces", [])) for r, payload in zip(rows, opened, strict=True) if payload]


def _resolver(user_id: int) -> tuple[dict[int, Person], callable]:
    people = {p.pk: p for p in Person.objects.filter(owner_id=user_id)}

    def resolve(person_id: int) -> int | None:
        seen = set()
        while person_id in people and people[person_id].merged_into_id and person_id not in seen:
            seen.add(person_id)
            person_id = people[person_id].merged_into_id
        return person_id if person_id in people else None

    return people, resolve


# --------------------------------------------------------------------------- analysis


def _decode(data: bytes):
    source = render.Source.from_bytes(data)
    scale = min(1.0, faces.MAX_SIDE / max(source.width, source.height))
    return faces.prepare(source.decode((source.width * scale, source.height * scale)))


def faces_analyse(*, user_id: int, item_ids: list[int]) -> int:
    """Find and group the faces of the photos not analysed yet; returns how many were analysed.

    Without face_analysis nothing is read or computed (0). Incremental: each photo once, new
    faces join the nearest known person within faces.SAME_PERSON."""
    if not faces_granted(user_id=user_id):
        return 0
    done = set(FaceScan.objects.filter(owner_id=user_id).values_list("item_id", flat=True))
    todo = sorted(set(item_ids) - done)
    if not todo:
        return 0
    _, resolve = _resolver(user_id)
    known = [
        (resolve(face["person"]), _unpack(face["embedding"])) for scan in _scans(user_id) for face in scan.faces
    ]
    known = [(person, embedding) for person, embedding in known if person is not None]
    analysed = found_faces = 0
    for start in range(0, len(todo), BATCH):
        released = gateway.release(
            user_id=user_id, purpose=gateway.PURPOSE_FACES, item_ids=todo[start : start + BATCH], variant="original"
        )
        found = []
        for item in released:
            try:
                found.append((item.meta.id, faces.find_faces(_decode(item.data))))
            except (OSError, ValueError) as exc:  # a photo Pillow cannot read: analysed, no faces
                log.warning("faces of item %s not read: %s", item.meta.id, type(exc).__name__)
                found.append((item.meta.id, []))
        del released
        try:
            with gateway.faces_sealing(user_id=user_id) as sealer:

                def new_person() -> int:
                    return Person.objects.create(owner_id=user_id, key_id=sealer.key_id).pk

                assigned = faces.assign([[f.embedding for f in fs] for _, fs in found], known, next_id=new_person)
                for (item_id, fs), people in zip(found, assigned, strict=True):
                    scan = FaceScan(owner_id=user_id, item_id=item_id, key_id=sealer.key_id)
                    payload = {
                        "faces": [
                            {"box": [round(v, 5) for v in f.box], "embedding": _pack(f.embedding), "person": p}
                            for f, p in zip(fs, people, strict=True)
                        ]
                    }
                    scan.sealed = sealer.seal(payload, binding=scan.uid.bytes)
                    scan.save()
                    known.extend((p, f.embedding) for f, p in zip(fs, people, strict=True))
                    found_faces += len(fs)
                analysed += len(found)
                sealer.uow.record(sealer.uow.event(
                    action="faces.analysed", actor=Actor.service("suggestions"), object_type="media",
                    purpose=gateway.PURPOSE_FACES,
                    details={"items": len(found), "faces": sum(len(fs) for _, fs in found)},
                ))
        except IntegrityError:
            # A photo was deleted meanwhile (or another pass analysed it): the next pass picks up the rest.
            log.info("face analysis batch of user %s not kept: a photo changed meanwhile", user_id)
            _, resolve = _resolver(user_id)
            known = [(resolve(p), e) for p, e in known if resolve(p) is not None]
    log.debug("faces of user %s: %s photos analysed, %s faces", user_id, analysed, found_faces)
    return analysed


# --------------------------------------------------------------------------- the holder's people


@dataclass
class PersonView:
    id: int
    name: str
    hidden: bool
    item_ids: list[int] = field(default_factory=list)
    cover_item_id: int | None = None
    cover_box: tuple[float, float, float, float] | None = None


def people_list(*, user_id: int, include_hidden: bool = False) -> list[PersonView]:
    """The holder's people with the photos that show them (most photos first); a person merged
    into another is part of that one. GatewayDenied (consent_required) without face_analysis."""
    scans = _scans(user_id)  # refuses first, without the grant
    people, resolve = _resolver(user_id)
    names = _names(user_id, people.values())
    views: dict[int, PersonView] = {}
    best: dict[int, float] = {}
    for scan in scans:
        for face in scan.faces:
            person_id = resolve(face["person"])
            if person_id is None:
                continue
            person = people[person_id]
            if person.hidden and not include_hidden:
                continue
            view = views.setdefault(person_id, PersonView(person_id, names.get(person_id, ""), person.hidden))
            if scan.item_id not in view.item_ids:
                view.item_ids.append(scan.item_id)
            left, top, right, bottom = face["box"]
            area = (right - left) * (bottom - top)
            if area > best.get(person_id, -1.0):
                best[person_id] = area
                view.cover_item_id, view.cover_box = scan.item_id, (left, top, right, bottom)
    for view in views.values():
        view.item_ids.sort()
    return sorted(views.values(), key=lambda v: (-len(v.item_ids), v.id))


def _names(user_id: int, people) -> dict[int, str]:
    named = [p for p in people if p.sealed_name]
    opened = gateway.faces_open(
        user_id=user_id, sealed=[(p.key_id, p.uid.bytes, bytes(p.sealed_name)) for p in named]
    )
    return {p.pk: (o or {}).get("name", "") for p, o in zip(named, opened, strict=True)}


def person_get(*, user_id: int, person_id) -> PersonView:
    """One of the holder's people (hidden ones too); not_found for anyone else's or a merged one."""
    try:
        wanted = int(person_id)
    except (TypeError, ValueError):
        raise ServiceError("not_found", "No such person.") from None
    for view in people_list(user_id=user_id, include_hidden=True):
        if view.id == wanted:
            return view
    raise ServiceError("not_found", "No such person.")


def _own_person(user_id: int, person_id) -> Person:
    view = person_get(user_id=user_id, person_id=person_id)
    return Person.objects.select_for_update().get(owner_id=user_id, pk=view.id)


def _clean_name(name) -> str:
    if not isinstance(name, str):
        raise ServiceError(INVALID_PERSON, "The name is text.")
    name = " ".join(name.split())
    if len(name) > NAME_MAX or any(not ch.isprintable() for ch in name):
        raise ServiceError(INVALID_PERSON, f"A name is at most {NAME_MAX} printable characters.")
    return name


def person_update(*, user_id: int, person_id, name=None, hidden: bool | None = None) -> PersonView:
    """Name (or, with "", unname) and hide or show a person. The name is sealed; the audit
    records that it changed, never what it is."""
    if name is not None:
        name = _clean_name(name)
    if hidden is not None and not isinstance(hidden, bool):
        raise ServiceError(INVALID_PERSON, "hidden is true or false.")
    with gateway.faces_sealing(user_id=user_id) as sealer:
        person = _own_person(user_id, person_id)
        fields = []
        if name is not None:
            person.key_id = sealer.key_id
            person.sealed_name = sealer.seal({"name": name}, binding=person.uid.bytes) if name else None
            fields += ["key", "sealed_name"]
        if hidden is not None:
            person.hidden = hidden
            fields.append("hidden")
        if fields:
            person.save(update_fields=fields)
            sealer.uow.record(sealer.uow.event(
                action="person.updated", actor=Actor.holder(user_id), object_type="person", object_id=person.pk,
                purpose=gateway.PURPOSE_FACES, details={"named": name is not None, "hidden": hidden},
            ))
    return person_get(user_id=user_id, person_id=person.pk)


def people_name(*, user_id: int, names: dict) -> int:
    """Name several people at once (the grid of faces): {person id: name}, "" to unname.

    One unit of work: every name is checked first, and one bad name or one person who is not
    the holder's (not_found) changes nothing. Only names that change are written and audited
    (that one changed, never what it is). Returns how many changed."""
    cleaned = {}
    for person_id, name in names.items():
        try:
            cleaned[int(person_id)] = _clean_name(name)
        except (TypeError, ValueError):
            raise ServiceError("not_found", "No such person.") from None
    if not cleaned:
        return 0
    with gateway.faces_sealing(user_id=user_id) as sealer:
        current = {view.id: view for view in people_list(user_id=user_id, include_hidden=True)}
        if not set(cleaned) <= set(current):
            raise ServiceError("not_found", "No such person.")
        changed = {pk: name for pk, name in cleaned.items() if current[pk].name != name}
        rows = Person.objects.select_for_update().filter(owner_id=user_id, pk__in=list(changed)).order_by("id")
        for person in rows:
            name = changed[person.pk]
            person.key_id = sealer.key_id
            person.sealed_name = sealer.seal({"name": name}, binding=person.uid.bytes) if name else None
            person.save(update_fields=["key", "sealed_name"])
        sealer.uow.record_many([
            sealer.uow.event(action="person.updated", actor=Actor.holder(user_id), object_type="person",
                             object_id=pk, purpose=gateway.PURPOSE_FACES, details={"named": True, "hidden": None})
            for pk in sorted(changed)
        ])
    return len(changed)


def person_merge(*, user_id: int, person_id, other_id) -> PersonView:
    """The other person becomes part of this one (their photos, and their name if this one has none)."""
    with gateway.faces_sealing(user_id=user_id) as sealer:
        person = _own_person(user_id, person_id)
        other = _own_person(user_id, other_id)
        if other.pk == person.pk:
            raise ServiceError(INVALID_PERSON, "A person cannot be merged with themselves.")
        if not person.sealed_name and other.sealed_name:
            [opened] = gateway.faces_open(
                user_id=user_id, sealed=[(other.key_id, other.uid.bytes, bytes(other.sealed_name))]
            )
            if opened and opened.get("name"):
                person.key_id = sealer.key_id
                person.sealed_name = sealer.seal({"name": opened["name"]}, binding=person.uid.bytes)
                person.save(update_fields=["key", "sealed_name"])
        other.merged_into = person
        other.sealed_name = None
        other.save(update_fields=["merged_into", "sealed_name"])
        Person.objects.filter(owner_id=user_id, merged_into=other).update(merged_into=person)
        sealer.uow.record(sealer.uow.event(
            action="person.merged", actor=Actor.holder(user_id), object_type="person", object_id=person.pk,
            purpose=gateway.PURPOSE_FACES, details={"merged": other.pk},
        ))
    return person_get(user_id=user_id, person_id=person.pk)


def faces_forget_items(*, user_id: int, item_ids: list[int]) -> int:
    """Photos deleted or trashed: their face data goes (a restored photo is analysed again)."""
    return FaceScan.objects.filter(owner_id=user_id, item_id__in=list(item_ids)).delete()[0]
