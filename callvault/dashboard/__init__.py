"""The health dashboard: figures for the page and its JSON APIs."""
