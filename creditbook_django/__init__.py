"""creditbook's REST API as a reusable Django app (the practice note's `/api/credits/` endpoints).

A Django project installs it with the `django` extra (`pip install creditbook[django]`) and adds

    INSTALLED_APPS = [..., "rest_framework", "creditbook_django"]
    CREDITBOOK = {"DATABASE_ALIAS": "default"}          # every key: creditbook_django/conf.py
    urlpatterns = [..., path("api/credits/", include("creditbook_django.urls"))]

then `manage.py migrate` (Django's tables and the ledger's). The app calls `engine.Billing` only:
the prices, policies and the ledger live in creditbook's core; this package maps HTTP requests
and the callers behind them (clinic users, staff, server-to-server clients) onto it.
"""
