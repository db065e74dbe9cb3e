"""The demo page's fixtures (the served app, Chromium, a fresh page), shared by every e2e module."""

from tests.e2e.test_demo_page import base_url, browser, page  # noqa: F401
