"""The map page served by the API."""
