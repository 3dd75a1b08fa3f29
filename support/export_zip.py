"""The zip of everything held about a holder (GDPR Art. 15 and 20), written as a stream.

Layout:
    README.txt                what is in here and how to check the receipts
    account.json              the account row (username, email, joined)
    media/metadata.json       every cloud item: capture time, place, labels, exclusions, trash, size, type, SHA-256
    media/photos/<name>       the photos as stored (EXIF stripped), decrypted, under the names they were uploaded with
    media/photos/<upload>     beside a photo converted on upload (HEIC -> JPEG): the file exactly as uploaded,
                              under its own name
    media/photos/<name>.json  the same metadata for that one photo, beside it
    media/videos/<name>       the videos exactly as uploaded (place and all: the owner's own), under their names
    media/videos/<name>.json  the same metadata for that one video, with its duration, beside it
    suggestions/outputs.json  what was made from them; suggestions/<id>.<ext> the outputs
    exclusions.json           the dates and places kept out of suggestions
    consent/ledger.json       every consent ledger entry
    consent/receipts/<record id>.json  a signed receipt per entry; consent/receipt-public-key.pem
    access-log.json           every audit event about the holder (ids and codes, as stored)
    access-log.txt            the same, in words
    support-cases.json        support cases about the holder, with the agents' reasons

The zip is produced chunk by chunk (zipfile writes to a sink that is drained after
every piece), so it goes straight into the vault's streaming encryption: decrypted
originals are never all in memory at once and never touch the disk.
"""

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from pathlib import PurePosixPath

from django.contrib.auth import get_user_model
from django.utils import timezone

from audit.selectors import audit_events_for_subject
from consent import receipts
from consent import selectors as consent_selectors
from support import access_log
from support.models import SupportCase
from vault import exports as vault_exports
from vault import gateway
from vault import selectors as vault_selectors

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic",
              "image/heif": "heif", "image/gif": "gif", "video/mp4": "mp4",
              "video/quicktime": "mov"}

README = """\
Everything consentsvc holds about you, as of {now}.

media/photos/      your photos, decrypted, under the file names they were uploaded with
                   (EXIF removed when they were uploaded). A HEIC photo is there twice: the
                   JPEG the service works from, and beside it your HEIC file exactly as your
                   phone sent it (same name, its own metadata intact)
media/photos/*.json  beside each photo: capture time, place (latitude/longitude), themes,
                   whether it is kept out of suggestions and why, whether it is in the trash
media/metadata.json  the same for every photo in one file
suggestions/       what the suggestions engine made from them, and which photos each used
exclusions.json    the dates and places you keep out of suggestions
consent/ledger.json  every consent choice you made (or support made on your behalf)
consent/receipts/  a signed receipt for each of those, and the public key that checks them
                   (Ed25519 over the canonical JSON of "receipt": keys sorted, no spaces, UTF-8)
access-log.json    every access to your data, as recorded in the tamper-evident audit trail
access-log.txt     the same, in words
support-cases.json every time a support agent acted on your account: who, when, why, the ticket

This file was encrypted while it waited for you and is deleted {expires}.
"""


class _Sink(io.RawIOBase):
    """A write-only, unseekable buffer that the generator empties after each piece."""

    def __init__(self):
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        return len(data)

    def drain(self) -> bytes:
        out = bytes(self._buffer)
        self._buffer.clear()
        return out


def _json_default(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, bytes | memoryview):
        return None
    return str(value)


def _json(value) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default).encode()


def _extension(content_type: str) -> str:
    return EXTENSIONS.get(content_type, "bin")


class ExportStats:
    def __init__(self):
        self.items = 0
        self.outputs = 0
        self.size = 0

    def counted(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.size += len(chunk)
            if chunk:
                yield chunk


def export_chunks(*, user_id: int, expires_at: datetime, stats: ExportStats) -> Iterator[bytes]:
    """Yield the zip's bytes. Reading the originals goes through the gateway (purpose owner_access)."""
    sink = _Sink()
    user = get_user_model().objects.get(pk=user_id)
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:

        def put(name: str, data: bytes, *, compress: bool = True):
            archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)

        put("README.txt", README.format(now=timezone.now().isoformat(timespec="seconds"),
                                        expires=expires_at.date().isoformat()).encode())
        put("account.json", _json({"id": user.pk, "username": user.username, "email": user.email,
                                   "date_joined": user.date_joined, "last_login": user.last_login}))
        yield sink.drain()

        metadata = []
        held = {row["pk"]: row for row in vault_selectors.media_held(user_id=user_id).order_by("id").values(
            "pk", "excluded", "trashed_at", "created_at", "duration_ms")}
        rules = vault_selectors.exclusion_rules(user_id=user_id)
        names = _Names()
        for item_id in held:
            if held[item_id]["duration_ms"] is not None:
                # A video goes out as it was uploaded (place and all: it is the holder's own), by its
                # name; the copy the service made without its place would only be a second copy.
                source = vault_exports.export_source_open(user_id=user_id, item_id=item_id)
                meta = source.meta
                name = f"media/videos/{names.take_source(meta, source.content_type)}"
                with archive.open(zipfile.ZipInfo(name, date_time=_zip_time(meta.captured_at)), "w",
                                  force_zip64=source.size > zipfile.ZIP64_LIMIT) as member:
                    for chunk in source.chunks:
                        member.write(chunk)
                        yield sink.drain()
                sidecar = _sidecar(meta, held[item_id], rules=rules, file=name, size=source.size)
                sidecar["duration_ms"] = meta.duration_ms
                put(f"{name}.json", _json(sidecar))
                metadata.append(sidecar)
                stats.items += 1
                yield sink.drain()
                continue
            # The holder's own read (purpose owner_access): audited by the gateway, then streamed.
            opened = gateway.owner_open(user_id=user_id, item_id=item_id, include_trashed=True)
            meta = opened.meta
            name = f"media/photos/{names.take(meta)}"
            # Photos are compressed already; storing them as they are keeps the export fast.
            with archive.open(zipfile.ZipInfo(name, date_time=_zip_time(meta.captured_at)), "w",
                              force_zip64=opened.size > zipfile.ZIP64_LIMIT) as member:
                for chunk in opened.chunks:
                    member.write(chunk)
                    yield sink.drain()
            uploaded = None
            source = vault_exports.export_source_open(user_id=user_id, item_id=item_id)
            if source is not None:
                # The HEIC as uploaded, byte for byte, beside the JPEG made from it.
                source_name = f"media/photos/{names.take_source(meta, source.content_type)}"
                with archive.open(zipfile.ZipInfo(source_name, date_time=_zip_time(meta.captured_at)), "w",
                                  force_zip64=source.size > zipfile.ZIP64_LIMIT) as member:
                    for chunk in source.chunks:
                        member.write(chunk)
                        yield sink.drain()
                uploaded = {"file": source_name, "content_type": source.content_type, "size": source.size,
                            "sha256": meta.sha256}
            sidecar = _sidecar(meta, held[item_id], rules=rules, file=name, size=opened.size, uploaded=uploaded)
            put(f"{name}.json", _json(sidecar))
            metadata.append(sidecar)
            stats.items += 1
            yield sink.drain()
        put("media/metadata.json", _json(metadata))
        yield sink.drain()

        outputs = []
        for output in _outputs(user_id):
            data = gateway.output_open(user_id=user_id, output_id=output["id"])
            name = f"suggestions/{output['id']}.{_extension(output['content_type'])}"
            put(name, data, compress=False)
            outputs.append({**output, "file": name})
            stats.outputs += 1
            yield sink.drain()
        put("suggestions/outputs.json", _json(outputs))
        put("exclusions.json", _json(vault_selectors.exclusion_list(user_id=user_id)))
        yield sink.drain()

        ledger = []
        for entry in consent_selectors.consent_history(user_id=user_id).order_by("id"):
            ledger.append(receipts.receipt_payload(entry) | {"case_id": entry.case_id})
            put(f"consent/receipts/{entry.record_id}.json", _json(receipts.receipt_sign(entry)))
        put("consent/ledger.json", _json(ledger))
        put("consent/receipt-public-key.pem", receipts.public_key_pem().encode())
        put("support-cases.json", _json(_support_cases(user_id)))
        yield sink.drain()

        events = audit_events_for_subject(subject_id=user_id).order_by("seq")
        put("access-log.json", _json([
            {"seq": e.seq, "time": e.time, "action": e.action, "actor_kind": e.actor_kind, "actor_id": e.actor_id,
             "object_type": e.object_type, "object_id": e.object_id, "purpose": e.purpose, "outcome": e.outcome,
             "request_id": e.request_id, "details": e.details, "hash": e.hash}
            for e in events.iterator(chunk_size=2000)
        ]))
        lines = [f"{entry.last_at.isoformat(timespec='seconds')}  {entry.summary}"
                 for entry in access_log.access_log_entries(user_id=user_id)]
        put("access-log.txt", ("\n".join(lines) + "\n").encode())
    yield sink.drain()


class _Names:
    """File names for the photos: the name each had when it was uploaded, with the extension of what is
    kept (the JPEG made from a HEIC is .jpg), made unique; photo-<id> when the name was not known."""

    def __init__(self):
        self._used: set[str] = set()

    def take(self, meta) -> str:
        stem = PurePosixPath(meta.filename).stem if meta.filename else ""
        stem = stem or f"photo-{meta.id}"
        return self._unique(stem, _extension(meta.content_type), meta.id)

    def take_source(self, meta, content_type: str) -> str:
        """The file as uploaded goes by the very name it was uploaded with (IMG_5195.HEIC), unless
        that is taken (by the JPEG made from it, say); then stem.heic, made unique."""
        if meta.filename and meta.filename.lower() not in self._used:
            self._used.add(meta.filename.lower())
            return meta.filename
        kind = "video" if meta.is_video else "photo"
        stem = (PurePosixPath(meta.filename).stem if meta.filename else "") or f"{kind}-{meta.id}"
        return self._unique(stem, _extension(content_type), meta.id, suffix="original")

    def _unique(self, stem: str, extension: str, item_id: int, suffix: str = "") -> str:
        name = f"{stem}.{extension}"
        if name.lower() in self._used:
            name = f"{stem}-{suffix or item_id}.{extension}"
        if name.lower() in self._used:
            name = f"{stem}-{suffix + '-' if suffix else ''}{item_id}.{extension}"
        self._used.add(name.lower())
        return name


def _sidecar(meta, row: dict, *, rules, file: str, size: int, uploaded: dict | None = None) -> dict:
    """One photo's metadata as the service holds it, beside the photo (name.jpg.json)."""
    reason = rules.reason(meta)
    excluded_by = [{"date_range": "a date range", "place": "a place"}.get(reason, reason)] if reason else []
    if row["excluded"]:
        excluded_by.insert(0, "this photo")
    return {
        "id": meta.id,
        "file": file,
        "original_filename": meta.filename or None,
        "captured_at": meta.captured_at,
        "lat": meta.lat,
        "lon": meta.lon,
        "labels": list(meta.labels),
        "kept_out_of_suggestions": bool(excluded_by),
        "excluded_by": excluded_by,
        "in_trash": row["trashed_at"] is not None,
        "deleted_at": row["trashed_at"],
        "uploaded_at": row["created_at"],
        "content_type": meta.content_type,
        "width": meta.width,
        "height": meta.height,
        "size": size,
        # Of the file as uploaded (for a HEIC: of the HEIC, in "as_uploaded", not of the JPEG).
        "sha256": meta.sha256,
        "as_uploaded": uploaded,
    }


def _zip_time(moment: datetime | None) -> tuple:
    if moment is None:
        moment = timezone.localtime()
    elif timezone.is_aware(moment):
        moment = timezone.localtime(moment)  # EXIF capture times are naive: wall-clock time as shot
    return (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, moment.second)


def _outputs(user_id: int) -> list[dict]:
    # Metadata of the holder's derived outputs (their content comes through the gateway).
    return vault_selectors.outputs_described(user_id=user_id)


def _support_cases(user_id: int) -> list[dict]:
    cases = SupportCase.objects.filter(subject_id=user_id).select_related("agent").prefetch_related("actions")
    return [
        {"case": case.pk, "agent": case.agent.username, "ticket": case.ticket, "reason": case.reason,
         "opened_at": case.opened_at, "expires_at": case.expires_at, "closed_at": case.closed_at,
         "closed_how": case.closed_how,
         "actions": [{"kind": a.kind, "purpose": a.purpose, "reason": a.reason, "at": a.created_at,
                      "changed": a.changed, "counts": a.counts} for a in case.actions.order_by("created_at")]}
        for case in cases.order_by("opened_at")
    ]


