"""What every response tells the browser, and where the client's address comes from.

- Content-Security-Policy: scripts, styles, fonts and connections only from this site, images from this
  site or `data:`; no inline script or style anywhere (htmx is configured in base.html not to inject
  its indicator style, app.css has it), nothing may frame a page (`frame-ancestors 'none'`, plus
  X-Frame-Options for old browsers), no plugins, no `<base>` from elsewhere.
- nosniff, a Referrer-Policy that sends no address off the site (none at all from a transcript
  viewer opened by a signed link: its address carries the token), HSTS in production only.
- Behind a proxy (Heroku's router), the client address is read from X-Forwarded-For exactly
  TRUSTED_PROXY_HOPS entries from the right, never further: entries to the left of that were written
  by the client and can say anything. 0 (the default) ignores the header.
"""
from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
))
HSTS = "max-age=31536000"
# Pages opened by a signed link: the query string holds the token.
TOKEN_PAGES_REFERRER_POLICY = "no-referrer"
# Same-origin keeps the Referer that Flask-WTF's CSRF check wants on HTTPS, and sends nothing elsewhere.
REFERRER_POLICY = "same-origin"


def init_app(app: Flask) -> None:
    hops = app.config.get("TRUSTED_PROXY_HOPS", 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=0, x_host=0, x_port=0, x_prefix=0)
    production = app.config.get("ENV_NAME") == "production"

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy",
                           TOKEN_PAGES_REFERRER_POLICY if "token" in request.args else REFERRER_POLICY)
        if production:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
