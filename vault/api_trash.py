"""The holder's trash over the API: list it, restore one item, empty it. Thin: parse, call, shape."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsHolder
from vault import selectors, trash
from vault.api import PAGE_PARAMETER, MediaOutputSerializer, _media_out, _page_of


class TrashedOutputSerializer(MediaOutputSerializer):
    trashed_at = serializers.DateTimeField(help_text="When the holder deleted it.")
    purge_at = serializers.DateTimeField(help_text="When it is destroyed unless restored first (TRASH_DAYS later).")


def _trashed_out(item, meta) -> dict:
    field = serializers.DateTimeField()
    return _media_out(item, meta, trashed_at=field.to_representation(item.trashed_at),
                      purge_at=field.to_representation(trash.purge_due_at(item.trashed_at)))


class TrashApi(APIView):
    """GET: the items in the holder's trash. DELETE: empty it now (destroys them)."""

    permission_classes = [IsHolder]

    @extend_schema(operation_id="media_trash_list", summary="The holder's deleted items, restorable until purge_at",
                   parameters=[PAGE_PARAMETER], responses=_page_of("TrashPage", TrashedOutputSerializer))
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.trash_list(user_id=request.user.pk).select_related("key"),
                                           request, view=self)
        metas = selectors.media_metas(items=page)
        return paginator.get_paginated_response([_trashed_out(i, m) for i, m in zip(page, metas, strict=True)])

    @extend_schema(operation_id="media_trash_empty", summary="Empty the trash: destroy every item in it now",
                   responses={200: inline_serializer("TrashEmptied", {"destroyed": serializers.IntegerField()})})
    def delete(self, request):
        return Response({"destroyed": trash.trash_empty(user_id=request.user.pk)}, status=status.HTTP_200_OK)


class MediaRestoreApi(APIView):
    """POST: take one item out of the trash."""

    permission_classes = [IsHolder]

    @extend_schema(operation_id="media_restore", request=None,
                   summary=f"Restore an item from the trash (within TRASH_DAYS, default {settings.TRASH_DAYS})",
                   responses={200: MediaOutputSerializer,
                              404: OpenApiResponse(description="not_found: not the holder's, or already destroyed")})
    def post(self, request, item_id: int):
        item = trash.media_restore(user_id=request.user.pk, item_id=item_id)
        return Response(_media_out(item, selectors.media_meta(item=item)))
