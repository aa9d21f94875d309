"""System checks: a wrong CREDITBOOK block stops `manage.py check`, `migrate` and `runserver` with
one clear message instead of failing on the first request."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register()
def creditbook_settings(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    from creditbook_django.conf import config

    try:
        config()
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="creditbook.E001")]
    return []
