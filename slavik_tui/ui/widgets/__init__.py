"""Reusable widgets (chart, forms, tables); import each from its own module."""
