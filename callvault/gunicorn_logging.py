"""gunicorn's access log without secrets: `--logger-class callvault.gunicorn_logging.RedactingLogger`
(the Procfile's web process). Every atom that can hold a path, a query string, a Referer or a
credential header is redacted before any `--access-logformat` sees it (see `redaction.py`)."""
from gunicorn.glogging import Logger

from .redaction import REDACTED, SECRET_HEADERS, redact_path, redact_query, redact_target

_TARGETS = ("f", "{referer}i", "{raw_uri}e", "{request_uri}e", "{http_referer}e")
_SECRET_ATOMS = tuple(f"{{{name}}}i" for name in SECRET_HEADERS) + tuple(f"{{{name}}}o" for name in SECRET_HEADERS) + \
    tuple("{http_" + name.replace("-", "_") + "}e" for name in SECRET_HEADERS)


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["r"] = f"{environ['REQUEST_METHOD']} {redact_target(environ['RAW_URI'])} {environ['SERVER_PROTOCOL']}"
        atoms["U"] = redact_path(atoms.get("U"))
        atoms["q"] = redact_query(atoms.get("q"))
        atoms["{path_info}e"] = atoms["U"]
        atoms["{query_string}e"] = atoms["q"]
        for name in _TARGETS:
            if name in atoms:
                atoms[name] = redact_target(atoms[name])
        for name in _SECRET_ATOMS:
            if name in atoms:
                atoms[name] = REDACTED
        return atoms
