"""HTTP entry points. Each blueprint parses the request, calls a service, and renders."""
