from django.contrib import admin
from django.urls import include, path

from planner import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/", include("planner.api.urls")),
    path("admin/", admin.site.urls),
    path("", include("planner.web.urls")),
]

# JSON errors in the API's shape for anything Django answers itself (unknown URL, crash).
handler404 = "planner.api.errors.not_found"
handler500 = "planner.api.errors.server_error"
