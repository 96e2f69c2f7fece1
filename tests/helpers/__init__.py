"""Helpers shared by the API tests: the app in-process and as a real server process."""
