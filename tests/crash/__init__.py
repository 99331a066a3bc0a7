"""Crash tests (issue 13); see test_crash.py."""
