"""Browser tests of the dashboard: a real Chromium (Playwright) against a real ``taskapi serve``."""
