"""Packaging: a real wheel, built and installed into a scratch venv."""
