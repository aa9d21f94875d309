"""Notifications that reach people: events written to the outbox by billing, delivered by a worker.

    worker = Worker(database, clock, mailer=SmtpMailer.from_env())
    worker.run_once()          # what `creditbook notify run` and `manage.py creditbook_notify` call

webhook.py signs and posts (HMAC-SHA256 over the timestamp and the body); mail.py sends e-mail
through a Mailer (SMTP here; the Django app passes Django's mail backend); worker.py leases due
deliveries, sends them outside any database transaction and records each outcome, retrying with
exponential backoff until a delivery is dead.
"""
