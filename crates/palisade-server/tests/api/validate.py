#!/usr/bin/env python3
"""Checks answers of Palisade's /api/v1 against the OpenAPI document the server serves, with
openapi-core 0.23 (the document itself is checked strictly first).

Usage: validate.py OPENAPI_JSON CASES_JSON

CASES_JSON is a list of {"label", "method", "path", "args": {query}, "status",
"content_type", "body"} (the body as text). Prints one line per case; exits 1 when one does not
validate, 2 on a usage error.
"""

import json
import sys

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    api = OpenAPI.from_file_path(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        cases = json.load(f)
    failed = 0
    for case in cases:
        request = MockRequest(
            "https://palisade.test",
            case["method"],
            case["path"],
            args=case.get("args") or {},
            headers={"Authorization": "Bearer token"},
        )
        response = MockResponse(
            case["body"].encode(),
            status_code=case["status"],
            content_type=case["content_type"],
        )
        try:
            api.validate_response(request, response)
            print(f"ok   {case['label']}")
        except Exception as e:  # the validator's errors name the field
            failed += 1
            detail = "; ".join(str(x) for x in getattr(e, "schema_errors", []) or [e])
            print(f"FAIL {case['label']}: {type(e).__name__}: {detail[:2000]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
