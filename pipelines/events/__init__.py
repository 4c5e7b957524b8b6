"""Webhook change capture: the signed-event receiver, its journal, and event-driven run planning."""
