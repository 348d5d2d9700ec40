from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from planner.api import calibration_views, measurement_views, views

router = DefaultRouter()
router.register("hardware", views.HardwareViewSet, basename="hardware")
router.register("models", views.LLMModelViewSet, basename="model")
router.register("prices", views.PricePointViewSet, basename="price")
router.register("hosted-api-prices", views.HostedApiPriceViewSet, basename="hosted-api-price")
router.register("teams", views.TeamViewSet, basename="team")
router.register("invitations", views.InvitationViewSet, basename="invitation")
router.register("plans", views.PlanViewSet, basename="plan")
router.register("comparisons", views.ComparisonViewSet, basename="comparison")
router.register("calibrations", calibration_views.CalibrationViewSet, basename="calibration")
router.register("measurement-sets", measurement_views.MeasurementSetViewSet, basename="measurement-set")

urlpatterns = [
    path("estimate/", views.EstimateView.as_view(), name="estimate"),
    path("export/", views.ExportView.as_view(), name="export"),
    path("capacity/", views.CapacityView.as_view(), name="capacity"),
    path("breakeven/", views.BreakevenView.as_view(), name="breakeven"),
    path("comparisons/<int:pk>/results/", views.ComparisonResultsView.as_view(), name="comparison-results"),
    path(
        "measurement-sets/<int:pk>/rows/",
        measurement_views.MeasurementRowsView.as_view(),
        name="measurement-set-rows",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("", include(router.urls)),
]
