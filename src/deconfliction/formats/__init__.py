"""Import and export formats (GeoJSON plans for now)."""
