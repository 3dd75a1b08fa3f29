"""The actions suggestions records, with the words each reader reads (see core.actions)."""

from core.actions import action, category, term

category("suggestions", auditor="Suggestions", holder="Suggestions", order=30)

term("output_kind", "collage", "a collage")
term("output_kind", "recap", "a recap animation")
term("output_kind", "stylized", "a stylised image")


def _choice(verb: str):
    def holder(line) -> str:
        if line.count > 1:
            return f"{line.who} {verb} {line.count} suggestions"
        return f"{line.who} {verb} {line.kind_words()}"
    return holder


def _generated(line) -> str:
    details = line.details[0] if line.details else {}
    if line.outcome == "error":
        return "A suggestions run failed; nothing from it was kept"
    if details.get("discarded"):
        return (f"The suggestions engine threw away {line.plural(details['discarded'], 'unfinished suggestion')} "
                "because your choices changed while it worked")
    if details.get("created"):
        return ""  # each suggestion it made has its own line
    return "The suggestions engine looked through your photos and found nothing new to suggest"


action("suggestions.generated", category="suggestions", repeats=True, holder=_generated)
action("suggestion.accepted", category="suggestions", holder=_choice("shared"))
action("suggestion.dismissed", category="suggestions", holder=_choice("dismissed"))
action("faces.analysed", category="suggestions", repeats=True,
       holder=lambda line: (f"The suggestions engine looked for faces in {line.photos(line.sum('items'))} to group "
                            "them by people"))
action("person.updated", category="suggestions",
       holder=lambda line: f"{line.who} named or hid a person on the People page")
action("person.merged", category="suggestions",
       holder=lambda line: f"{line.who} merged two people on the People page")
action("share_link.created", category="suggestions",
       holder=lambda line: f"{line.who} made a share link to a suggestion")
action("share_link.revoked", category="suggestions", holder=lambda line: f"{line.who} revoked a share link")
