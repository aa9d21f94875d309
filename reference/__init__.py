"""A Django project that serves creditbook's credits API (creditbook_django): what `make serve`
runs, what the README's curl session talks to and what the API tests start under gunicorn. Not part
of the wheel: a host project writes its own settings (see settings.py for the few lines it needs)."""
