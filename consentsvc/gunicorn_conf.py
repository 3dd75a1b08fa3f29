"""gunicorn's settings for every way the site is served (bin/serve, the Procfile, the benchmarks):
`gunicorn --config python:consentsvc.gunicorn_conf consentsvc.wsgi ...`.

The access log keeps gunicorn's default format but never a share link's token: whoever reads
the log (an operator, a log shipper, a support tool) must not be able to open a holder's shared
suggestion. The token is in the request line, the path, the raw URI and, for the page's own
content request, the Referer; every field of a log line goes through the same redaction, so a
custom `access_log_format` cannot bring it back.
"""

import re

from gunicorn import glogging

# /s/<token>/ and /s/<token>/content/ (suggestions/urls.py), in a path or a full URL.
SHARE_TOKEN = re.compile(r"(/s/)[^/?#\s\"]+")
REDACTED = r"\1[token]"

logger_class = "consentsvc.gunicorn_conf.AccessLogger"


def redact(value: str) -> str:
    return SHARE_TOKEN.sub(REDACTED, value)


class AccessLogger(glogging.Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
