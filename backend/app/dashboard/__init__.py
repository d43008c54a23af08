"""The browser dashboard: a static page over the JSON API (see routes.py)."""
