"""Notifications: the outbox written with each change, and its deliveries."""
