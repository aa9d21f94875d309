"""The reference project's URLs: the credits API under /api/credits/, the clinic dashboard under
/dashboard/ and Django's admin. The dashboard's one stylesheet is served from the app's static
folder here too (gunicorn serves no static files; a real deployment puts them behind its web server
or WhiteNoise after `collectstatic`)."""

from django.contrib import admin
from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path
from django.views.generic import RedirectView

urlpatterns = [
    path("api/credits/", include("creditbook_django.urls")),
    path("dashboard/", include("creditbook_django.dashboard_urls")),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/dashboard/", permanent=False)),
    re_path(r"^static/(?P<path>creditbook/.+)$", serve, {"insecure": True}),
]
