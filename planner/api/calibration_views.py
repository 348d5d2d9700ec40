"""Team calibrations: POST answers 202 (a worker fits it); poll for status and progress; the report holds
the errors before and after, the moved parameters and the scatter; `download/` gives the calibration JSON
that `python -m calculator --calibration` reads; `default/` makes it the team's default (POST) or goes
back to the shipped one (DELETE). Viewers read, editors fit and cancel, team admins delete and choose the
default; another team's is a 404."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from planner import access
from planner.api import measurement_serializers as ms
from planner.api.errors import error_body
from planner.api.permissions import CalibrationPermission
from planner.filtersets import CalibrationFilter
from planner.models import TeamCalibration
from planner.services import calibrations


class CalibrationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    permission_classes = (CalibrationPermission,)
    filterset_class = CalibrationFilter

    def get_queryset(self):
        queryset = access.restrict(
            TeamCalibration.objects.select_related("team", "created_by"), self.request.user, "view"
        )
        if self.action == "list":
            queryset = queryset.defer("rows", "calibration", "report")
        return queryset

    def get_serializer_class(self):
        if self.action == "create":
            return ms.CalibrationCreateSerializer
        return ms.CalibrationSerializer if self.action == "list" else ms.CalibrationDetailSerializer

    @extend_schema(request=ms.CalibrationCreateSerializer, responses={202: ms.CalibrationSerializer})
    def create(self, request, *args, **kwargs):
        form = self.get_serializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        job = calibrations.calibration_submit(
            user=request.user, team=data["team"], name=data["name"], measurement_sets=data["measurement_sets"]
        )
        url = request.build_absolute_uri(reverse("calibration-detail", args=[job.pk]))
        body = {"id": job.pk, "status": job.status, "url": url}
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})

    def perform_destroy(self, instance):
        calibrations.calibration_delete(instance, user=self.request.user)

    @extend_schema(request=None, responses={200: ms.CalibrationDetailSerializer})
    @action(detail=True, methods=["post"], filter_backends=())
    def cancel(self, request, pk=None):
        """Cancel a queued or running fit (editors); 409 once it has succeeded or failed."""
        job = self.get_object()
        if not calibrations.calibration_cancel(job, user=request.user):
            job.refresh_from_db(fields=["status"])
            if job.status != TeamCalibration.Status.CANCELLED:
                return Response(error_body("conflict", f"The fit has already {job.status}."), status=409)
        job = self.get_queryset().get(pk=job.pk)
        return Response(ms.CalibrationDetailSerializer(job, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={200: ms.CalibrationSerializer})
    @action(detail=True, methods=["post", "delete"], filter_backends=())
    def default(self, request, pk=None):
        """POST: the team's estimates use this calibration when they name none; DELETE: the shipped one
        again (team admins)."""
        job = self.get_object()
        calibrations.calibration_set_default(
            job.team, job if request.method == "POST" else None, user=request.user
        )
        job = self.get_queryset().get(pk=job.pk)
        return Response(ms.CalibrationSerializer(job, context=self.get_serializer_context()).data)

    @extend_schema(responses={(200, "application/json"): dict})
    @action(detail=True, methods=["get"], filter_backends=())
    def download(self, request, pk=None):
        """The fitted calibration as a file `python -m calculator ... --calibration FILE` reads."""
        job = self.get_object()
        if job.status != TeamCalibration.Status.SUCCEEDED:
            return Response(
                error_body("not_ready", f"The fit has not succeeded (it is {job.status})."), status=409
            )
        response = HttpResponse(
            json.dumps(job.calibration, indent=2, sort_keys=True) + "\n", content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="calibration-{job.pk}.json"'
        return response
