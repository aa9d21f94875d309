"""The reference project's URLs and the baseline view (bench/api_wsgi.py)."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from reference.urls import urlpatterns as reference


def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"practice_id": "bench", "balance": {"credits": 1000, "money": "1000", "currency": "INR"}})


urlpatterns = [*reference, path("bare/", bare)]
