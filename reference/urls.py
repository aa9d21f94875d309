"""The reference project's URLs: the credits API under /api/credits/ and Django's admin."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("api/credits/", include("creditbook_django.urls")),
    path("admin/", admin.site.urls),
]
