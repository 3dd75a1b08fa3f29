import hashlib

from django.db import migrations
from django.utils import timezone

NOTICES = [
    (
        "camera_roll_cloud_processing",
        "Camera Roll Sharing Suggestions",
        """What we upload: while this is on, your phone uploads recent photos and videos from your camera roll \
to our cloud, even ones you have never posted. It picks them by time (when they were taken), location (where \
they were taken) and themes your phone recognises on the device (for example "beach" or "birthday").

What we use them for: only to make suggestions for you — collages, short recap animations and stylised \
images — that only you see, and that you can choose to share or dismiss. Nothing is shared unless you share it.

How they are kept: each photo is encrypted with a key that belongs to your account alone. Where a photo was \
taken and its themes are encrypted too. Every time a photo is read, that is recorded, and you can see who \
read what in your access history.

What never happens: we never use your photos for advertising, and we never use them to train models. \
Grouping by the people in your photos is a separate choice, off unless you turn it on.

Turning it off: access stops at once, suggestions made from your photos are deleted, and the cloud copies are \
destroyed by deleting your key. You can also delete everything at any time, or download a copy first.""",
    ),
    (
        "suggestion_prompts",
        "Suggestion prompts",
        """What this does: while you browse, we may show a prompt when a new suggestion (a collage, recap or \
stylised image made from your own photos) is ready for you to share.

What it uses: only whether a suggestion is ready. It does not upload anything by itself; uploading is the \
separate Camera Roll Sharing Suggestions choice.

Turning it off: prompts stop at once.""",
    ),
    (
        "face_analysis",
        "Group photos by people",
        """What this does: suggestions may group your uploaded photos by the people who appear in them, for \
example "You and Sam at the lake". To do that we compare faces across your own photos.

What it needs: Camera Roll Sharing Suggestions must be on. This choice is never bundled with it.

What never happens: face information is never used to identify anyone outside your own photos, never used \
for advertising or model training, and never shared.

Turning it off: face grouping stops at once and anything derived from faces is deleted.""",
    ),
]


def publish(apps, schema_editor):
    Notice = apps.get_model("consent", "Notice")
    now = timezone.now()
    for purpose, title, text in NOTICES:
        Notice.objects.get_or_create(
            purpose=purpose,
            version="1",
            defaults={
                "title": title,
                "text": text,
                "sha256": hashlib.sha256(f"{title}\n\n{text}".encode()).hexdigest(),
                "material": True,
                "published_at": now,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("consent", "0002_consententry_append_only")]
    operations = [migrations.RunPython(publish, migrations.RunPython.noop)]
