from django.contrib.auth import views as auth_views
from django.urls import path

from planner.web import breakeven, calibrations, measurements, views

app_name = "web"

urlpatterns = [
    path("", views.calculator, name="calculator"),
    path("capacity/", views.capacity, name="capacity"),
    path("breakeven/", breakeven.breakeven, name="breakeven"),
    path("plans/", views.plan_list, name="plan_list"),
    path("plans/new/", views.plan_save, name="plan_save"),
    path("plans/<int:plan_id>/", views.plan_detail, name="plan_detail"),
    path("plans/<int:plan_id>/versions/new/", views.plan_version_add, name="plan_version_add"),
    path("plans/<int:plan_id>/recompute/", views.plan_recompute, name="plan_recompute"),
    path("plans/<int:plan_id>/diff/", views.plan_diff, name="plan_diff"),
    path("comparisons/", views.comparison_list, name="comparison_list"),
    path("comparisons/new/", views.comparison_new, name="comparison_new"),
    path("comparisons/<int:job_id>/", views.comparison_detail, name="comparison_detail"),
    path("comparisons/<int:job_id>/cancel/", views.comparison_cancel, name="comparison_cancel"),
    path("measurements/", measurements.measurement_list, name="measurement_list"),
    path("measurements/<int:set_id>/", measurements.measurement_detail, name="measurement_detail"),
    path("calibrations/", calibrations.calibration_list, name="calibration_list"),
    path("calibrations/<int:job_id>/", calibrations.calibration_detail, name="calibration_detail"),
    path("teams/new/", views.team_create, name="team_create"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
