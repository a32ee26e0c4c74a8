"""The transcript viewer: signed links for the people who were in a meeting, and the page's data."""
