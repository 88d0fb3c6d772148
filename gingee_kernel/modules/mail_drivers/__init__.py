"""The drivers behind the `mail` module: one small interface (base.py) and the embedded default (console)
beside it; smtp, sendgrid and ses are imported only when an app configures them (each behind an extra)."""
