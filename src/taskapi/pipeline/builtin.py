"""Formerly the built-in handlers that needed nothing outside the task's own params. Its last one,
``keyword_expand`` (spelling variants of ``params.keywords``), is now the method ``variants`` of the
full ``keyword_expand`` in ``taskapi.pipeline.handlers.keyword_expand`` (the algorithms in
``taskapi.pipeline.expand``). Every built-in handler lives in ``taskapi.pipeline.handlers``, one module
per task type; this module defines none and stays importable for the names that still list it.
"""
