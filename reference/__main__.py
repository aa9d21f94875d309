"""`python -m reference COMMAND`: the reference project's manage.py from anywhere."""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reference.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(["python -m reference", *sys.argv[1:]])
