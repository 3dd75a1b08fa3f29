"""Template context: whether the holder's navigation shows People (only with face_analysis on)."""

from suggestions import people


def people_nav(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_people": False}
    return {"nav_people": people.faces_granted(user_id=user.pk)}
