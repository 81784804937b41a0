"""Shared core: imported by every service, imports none of them."""
