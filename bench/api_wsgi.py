"""The reference project with one more URL, `bare/`: a plain Django view returning a constant JSON
body through the same middleware — the benchmark's baseline for what Django alone costs."""

import os

from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reference.settings")
settings.ROOT_URLCONF = "bench.api_urls"

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
