"""Handler modules for tests, imported by name (``tests.handlers.basic``) in workers and their children."""
