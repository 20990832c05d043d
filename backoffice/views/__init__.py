"""Back-office pages and the JSON API, one module per resource."""
