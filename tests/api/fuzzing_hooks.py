"""schemathesis hooks for tests/api/test_fuzzing.py (loaded through SCHEMATHESIS_HOOKS).

A generated query can make a request line longer than gunicorn's limit
(GUNICORN_LIMIT_REQUEST_LINE, 4,094 bytes): a huge array for `hours`, say. gunicorn
answers it `414 URI Too Long` in text/html before the app sees the request, as a proxy
in front would, so the answer is the server's, not the API's, and no Swagger 2.0
document can describe it (content types are per operation). Failures on exactly such
answers are dropped; a 414 to a shorter request line still fails the run.
tests/api/test_errors.py checks the server's 414 itself.
"""
import os

import schemathesis

REQUEST_LINE_LIMIT = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "4094"))


def request_line_length(request) -> int:
    return len(f"{request.method} {request.path_url} HTTP/1.1".encode())


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    too_long = request_line_length(response.request) > REQUEST_LINE_LIMIT - 16  # 16: line-ending slack
    return not (response.status_code == 414 and too_long)
