"""manage.py creditbook_api_key NAME: create an API client (or give it a new key) and print its key once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from creditbook_django.models import ApiClient, clinic_id_validator


class Command(BaseCommand):
    help = "Create a server-to-server API client, or issue a new key to one; prints the key once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--clinic", default="", help="bind the client to one clinic (default: any clinic)")
        parser.add_argument("--charge", action="store_true", help="allow it to charge leads and campaigns")

    def handle(self, name: str, clinic: str, charge: bool, **_: Any) -> None:
        if clinic:
            try:
                clinic_id_validator(clinic)
            except Exception as error:
                raise CommandError(f"--clinic {clinic!r}: not a clinic id") from error
        client = ApiClient.objects.filter(name=name).first() or ApiClient(name=name)
        client.clinic_id, client.can_charge, client.revoked_at = clinic, charge, None
        key = client.new_key()
        client.full_clean()
        client.save()
        self.stdout.write(key)
