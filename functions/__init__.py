"""Thin AWS Lambda entry points (scheduled jobs) that call the same services as the views."""
