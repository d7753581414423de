"""Schemathesis hooks for scripts/contract.sh.

`cargo lambda watch` (the local stand-in for API Gateway) answers 500
itself, before any function runs, to a body that is not UTF-8 and to a
header value that is not ASCII; API Gateway instead hands such bodies to
the function base64-encoded. Those inputs are kept out of the emulator run
here and sent to every handler directly by tests/tests/suite/fuzz_handlers.rs.
"""

import schemathesis


def _utf8(value) -> bool:
    try:
        if isinstance(value, (bytes, bytearray)):
            bytes(value).decode("utf-8")
        elif isinstance(value, str):
            value.encode("utf-8")
        elif isinstance(value, dict):
            return all(_utf8(k) and _utf8(v) for k, v in value.items())
        elif isinstance(value, list):
            return all(_utf8(v) for v in value)
    except UnicodeError:
        return False
    return True


@schemathesis.hook
def filter_body(ctx, body):
    return _utf8(body)


@schemathesis.hook
def filter_headers(ctx, headers):
    if not headers:
        return True
    return all(str(v).isascii() and str(k).isascii() for k, v in headers.items())
