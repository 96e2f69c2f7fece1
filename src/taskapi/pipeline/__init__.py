"""The literature pipeline's built-in handlers (``builtin``) and a demo set for trying the service."""
