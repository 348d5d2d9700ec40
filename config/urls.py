from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from planner import views

urlpatterns = [
    path("", views.index, name="index"),
    path("healthz", views.healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("admin/", admin.site.urls),
]
