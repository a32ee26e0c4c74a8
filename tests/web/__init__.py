"""The web layer: sign-in, the library, the JSON API, settings, the dashboard, transcript links, /healthz."""
