"""The reference project's settings: Django's own tables and the ledger in one database.

SQLite by default (`reference.sqlite3` beside the ledger `creditbook.db`, the same demo ledger
`make app` shows); PostgreSQL with one variable: `DATABASE_URL=postgresql://user@host:5432/name`
puts Django's tables in that database's public schema and the ledger in its `creditbook` schema.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE = Path(os.environ.get("CREDITBOOK_REFERENCE_DIR", Path.cwd()))
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "reference-project-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "creditbook_django",
    "reference",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "reference.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "reference.wsgi.application"
STATIC_URL = "static/"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _database(url: str | None) -> dict[str, object]:
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE / "reference.sqlite3")}
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {parts.scheme}://")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 60,
    }


DATABASES = {"default": _database(os.environ.get("DATABASE_URL"))}

# The whole of creditbook's configuration. On SQLite the ledger keeps its own file (the demo ledger
# `make app` also serves); on PostgreSQL it shares the database, in a schema of its own.
CREDITBOOK = {
    "DATABASE_ALIAS": "default",
    "DATABASE_URL": None
    if os.environ.get("DATABASE_URL")
    else os.environ.get("CREDITBOOK_DATABASE_URL", f"sqlite:///{BASE / 'creditbook.db'}"),
    "POOL_SIZE": int(os.environ.get("CREDITBOOK_POOL_SIZE", "5")),
    "CAMPAIGN_CHARGES": os.environ.get("CREDITBOOK_CAMPAIGN_CHARGES") == "1",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"creditbook_django": {"handlers": ["console"], "level": "ERROR"}},
}
