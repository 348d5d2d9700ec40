"""Measurement sets: upload (multipart), list, read, rows, delete. Reads are scoped to the user's teams
(another team's set is a 404); editors upload, team admins delete (planner.access)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, parsers, status, viewsets
from rest_framework.response import Response

from planner import access
from planner.api import measurement_serializers as ms
from planner.api.permissions import MeasurementSetPermission
from planner.filtersets import MeasurementSetFilter
from planner.models import Measurement, MeasurementSet
from planner.services.measurements import Upload, measurement_set_delete, measurement_set_upload

MAX_FILE_NAME = 255


class MeasurementSetViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """A team's own benchmark files. POST (multipart/form-data) a file with `team`, `name` and what the file
    does not state; 201 with the stored set, or 400 naming the line and field (`invalid_file`), or listing
    every invalid row (`partial_file`: nothing stored until the upload is repeated with
    `confirm_partial=true`)."""

    permission_classes = (MeasurementSetPermission,)
    parser_classes = (parsers.MultiPartParser, parsers.FormParser)
    filterset_class = MeasurementSetFilter
    ordering = ("-uploaded_at", "-id")

    def get_queryset(self):
        return access.restrict(
            MeasurementSet.objects.select_related("team", "uploaded_by"), self.request.user, "view"
        )

    def get_serializer_class(self):
        return ms.MeasurementSetUploadSerializer if self.action == "create" else ms.MeasurementSetSerializer

    @extend_schema(request=ms.MeasurementSetUploadSerializer, responses={201: ms.MeasurementSetSerializer})
    def create(self, request, *args, **kwargs):
        form = self.get_serializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        uploaded = data["file"]
        upload = Upload(
            name=data["name"],
            file_name=(uploaded.name or "upload")[:MAX_FILE_NAME],
            data=uploaded.read(),
            format_name=data.get("format"),
            context=form.context_fields(),
            confirm_partial=data["confirm_partial"],
        )
        stored = measurement_set_upload(user=request.user, team=data["team"], upload=upload)
        body = ms.MeasurementSetSerializer(stored, context=self.get_serializer_context()).data
        # str(): the serializer's URL is a DRF Hyperlink, which a WSGI server refuses as a header value.
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": str(body["url"])})

    def perform_destroy(self, instance):
        measurement_set_delete(instance, user=self.request.user)


class MeasurementRowsView(generics.ListAPIView):
    """The rows of one set, in file order (paginated)."""

    serializer_class = ms.MeasurementSerializer
    permission_classes = (MeasurementSetPermission,)
    queryset = Measurement.objects.none()  # the schema's model; get_queryset scopes the real one

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Measurement.objects.none()
        sets = access.restrict(MeasurementSet.objects.all(), self.request.user, "view")
        measurement_set = get_object_or_404(sets, pk=self.kwargs["pk"])
        return measurement_set.rows.all()
