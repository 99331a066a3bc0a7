"""Use cases as plain functions taking the Services they need."""
