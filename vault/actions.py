"""The actions the vault records, with the words each reader reads (see core.actions)."""

from core.actions import action, category, purpose

category("media", auditor="Media access", holder="Your photos", holder_key="photos", order=20)

# The gateway's purposes: what a read was for.
purpose("sharing_suggestions", words="making suggestions", use="to make suggestions")
purpose("face_grouping", words="grouping by people", use="to group them by the people in them")
purpose("owner_access", words="the holder's own use", use="")
purpose("advertising", words="advertising", use="for advertising")
purpose("model_training", words="model training", use="for model training")


def _read_holder(line) -> str:
    n = line.count
    if line.denied:
        return f"A request to read your photos {line.use()} was refused"
    if line.purpose == "owner_access":
        if line.request_id.startswith("export-"):
            # One photo can be read twice for it (a HEIC: the JPEG and the file as uploaded).
            return f"Your data export included {line.photos(len(set(line.object_ids) - {''}) or n)}"
        return f"You opened {line.photos(n)}"
    if line.purpose == "sharing_suggestions":
        if line.used:
            return f"The suggestions engine looked at {line.of_your_photos(n)} and {line.used_words()}"
        if line.made:
            return f"The suggestions engine read {line.of_your_photos(n)} to make {line.kind_words(line.made)}"
        photos = len(set(line.object_ids) - {""}) or n
        passes = "" if line.passes == 1 else f" ({line.passes} passes)"
        return f"The suggestions engine read {line.of_your_photos(photos)} to make suggestions{passes}"
    if line.purpose == "face_grouping":
        return f"The suggestions engine read {line.of_your_photos(n)} to group them by the people in them"
    return f"{line.who} read {line.of_your_photos(n)} {line.use()}".rstrip()


def _read_auditor(event) -> str:
    target = f"item {event.object_id}" if event.object_id else "media"
    return f"{event.who} read{event.whose} {target}" + (f" for {event.purpose}" if event.purpose else "")


def _listed_holder(line) -> str:
    if line.denied:
        return f"A request to list your photos {line.use()} was refused"
    return f"{line.who} looked at the list of your photos to pick some {line.use('')}".rstrip()


def _uploaded_holder(line) -> str:
    if line.method == "web":
        return f"You added {line.photos()} on the web"
    return f"You uploaded {line.photos()} from {line.device}" if line.device else f"Your phone uploaded {line.photos()}"


def _refused_auditor(event) -> str:
    code = event.details.get("code") or event.details.get("error")
    return f"An upload{event.about} was refused" + (f" ({code})" if isinstance(code, str) else "")


def _duplicate_holder(line) -> str:
    sender = line.device[0].upper() + line.device[1:] if line.device else "Your phone"
    return f"{sender} sent {line.photos()} already held; nothing new was kept"


def _deleted_holder(line) -> str:
    n = line.count
    if line.cause == "trash_emptied":
        return f"{line.who} emptied the trash: {line.photos(n)} destroyed for good"
    if line.cause == "trash_expired":
        their = "its" if n == 1 else "their"
        return f"{line.photos(n).capitalize()} destroyed for good after {their} time in the trash"
    return f"{line.who} deleted {line.photos(n)} from the cloud"


def _erased_holder(line) -> str:
    if any(d.get("case_id") for d in line.details):
        return ""  # done by support: the support.erase line says it, with the ticket
    items = line.sum("items")
    if any(d.get("consent_entry") for d in line.details):
        if not items:
            return ""  # nothing was left to destroy (an erase that turned the feature off, just before)
        return f"Your cloud photos ({line.photos(items)}) were destroyed because {line.label} was turned off"
    return f"{line.who} erased all your cloud photos and everything made from them ({line.photos(items)})"


def _erased_auditor(event) -> str:
    items = event.count("items")
    return f"{event.who} erased the photos in the cloud{event.about}" + (f": {items} photos" if items is not None
                                                                         else "")


def _rekeyed_holder(line) -> str:
    items = line.sum("items")
    return (f"{line.photos(items).capitalize()} got a key of {'its' if items == 1 else 'their'} own, so deleting "
            f"{'it' if items == 1 else 'one'} destroys it for good; no one looked at them")


def _stored_holder(line) -> str:
    if line.count == 1:
        return f"The suggestions engine made {line.kind_words()} for you"
    return f"The suggestions engine made {line.count} suggestions for you"


def _stored_auditor(event) -> str:
    if event.object_id:
        return f"{event.who} stored output {event.object_id}{event.about}"
    return f"{event.who} stored an output{event.about}"


def _shared_read_holder(line) -> str:
    if line.denied:
        return "Someone tried a share link after it had stopped working; nothing was shown"
    times = "" if line.count == 1 else f" ({line.plural(line.count, 'time')})"
    return f"Someone opened a suggestion through your share link{times}"


def _output_deleted_holder(line) -> str:
    n = line.count
    what = "A suggestion was" if n == 1 else f"{n} suggestions were"
    if line.cause == "owner":
        return ""  # the holder's own dismissal: the suggestion.dismissed line says it
    if line.cause == "consent_withdrawn":
        return f"{what} deleted because {line.label or 'a setting'} was turned off"
    if line.cause == "source_excluded":
        return f"{what} deleted because you kept a photo {'it' if n == 1 else 'they'} used out of suggestions"
    if line.cause in ("source_deleted", "source_trashed"):
        return f"{what} deleted because you deleted a photo {'it' if n == 1 else 'they'} used"
    return f"{what} deleted"


action("media.uploaded", category="media", repeats=True, holder=_uploaded_holder,
       auditor=lambda event: (f"{event.who} uploaded item {event.object_id}" if event.object_id
                              else f"{event.who} uploaded an item"))
action("media.upload_started", category="media")
action("media.upload_duplicate", category="media", repeats=True, holder=_duplicate_holder)
action("media.upload_refused", category="media", repeats=True,
       holder=lambda line: f"{'An upload was' if line.count == 1 else f'{line.count} uploads were'} refused and "
                           "nothing was kept",
       auditor=_refused_auditor)
action("media.read", category="media", per_request=True, repeats=True, holder=_read_holder, auditor=_read_auditor)
action("media.listed", category="media", per_request=True, repeats=True, holder=_listed_holder,
       auditor=lambda event: f"{event.who} listed{event.whose} media" + (f" for {event.purpose}" if event.purpose
                                                                          else ""))
action("media.deleted", category="media", per_request=True, holder=_deleted_holder)
action("media.trashed", category="media", holder=lambda line: f"{line.who} moved {line.photos()} to the trash")
action("media.restored", category="media", holder=lambda line: f"{line.who} restored {line.photos()} from the trash")
action("media.excluded", category="media", holder=lambda line: f"{line.who} kept {line.photos()} out of suggestions")
action("media.included", category="media",
       holder=lambda line: f"{line.who} let {line.photos()} back into suggestions")
action("media.erased", category="media", holder=_erased_holder, auditor=_erased_auditor)
action("media.rekeyed", category="media", holder=_rekeyed_holder)
# An operator's master-key rotation re-wrapped an account's data keys (no blob touched).
action("key.rewrapped", category="system",
       holder=lambda line: "Your encryption keys were re-wrapped under a new master key (no photo was read)",
       auditor=lambda event: f"{event.who} re-wrapped{event.whose} data keys under a new master key")
action("media.shred_scheduled", category="media",
       holder=lambda line: f"Your cloud photos are due to be destroyed because {line.label} was turned off")
action("exclusion.created", category="media",
       holder=lambda line: f"{line.who} added {line.plural(line.count, 'exclusion')}")
action("exclusion.deleted", category="media",
       holder=lambda line: f"{line.who} removed {line.plural(line.count, 'exclusion')}")
# What the gateway records for the suggestions engine: filed with suggestions, whose work they are.
action("faces.stored", category="suggestions")
action("faces.read", category="suggestions")
action("output.stored", category="suggestions", per_request=True, holder=_stored_holder, auditor=_stored_auditor)
action("output.read", category="suggestions", repeats=True,
       holder=lambda line: f"{line.who} opened {line.plural(line.count, 'suggestion')}")
action("output.shared_read", category="suggestions", repeats=True, holder=_shared_read_holder)
action("output.deleted", category="suggestions", per_request=True, holder=_output_deleted_holder)
