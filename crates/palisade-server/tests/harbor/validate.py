#!/usr/bin/env python3
"""Checks HTTP responses against the Harbor pluggable scanner adapter OpenAPI spec
(goharbor/pluggable-scanner-spec) with openapi-core 0.23.

Usage: validate.py SPEC_DIR CASES_JSON

SPEC_DIR holds scanner-adapter-openapi-v1.1.yaml and scanner-adapter-openapi-v1.2.yaml.
CASES_JSON is a list of cases, each
  {"label", "spec": "1.1" | "1.2", "method", "path" (with /api/v1), "args": {query},
   "status", "content_type" (or null), "headers": {}, "body": the exact body text,
   "expect": "valid" | "invalid"}; a case with "kind": "request" checks the body as a request
  (sent with a bearer token, as the spec's security requires) instead of a response.
Prints one line per case and exits 1 when a case's outcome is not the one expected (a body
meant to be rejected that the validator accepts fails too), 2 on a usage error.

Two settings are needed for this spec: the vendor `+json` media types (and
`application/vnd.security.vulnerability.report`) are not JSON to openapi-core unless told, so
they get a JSON deserializer; and v1.2 fails openapi-core's strict OpenAPI 3.0 check of the
spec itself (an `enum` beside `schema` on the `sbom_media_type` parameter), so v1.2 is loaded
without the spec validator while v1.1 is checked strictly.
"""

import json
import sys

from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

JSON_TYPES = [
    "application/vnd.scanner.adapter.metadata+json",
    "application/vnd.scanner.adapter.error+json",
    "application/vnd.scanner.adapter.scan.response+json",
    "application/vnd.scanner.adapter.scan.request+json",
    "application/vnd.scanner.adapter.vuln.report.harbor+json",
    "application/vnd.security.vulnerability.report",
    "application/vnd.security.sbom.report+json",
]


def from_json(data, **_params):
    return json.loads(data)


def load(spec_dir, version):
    deserializers = {t: from_json for t in JSON_TYPES}
    path = f"{spec_dir}/scanner-adapter-openapi-v{version}.yaml"
    if version == "1.1":
        config = Config(extra_media_type_deserializers=deserializers)
    else:
        config = Config(spec_validator_cls=None, extra_media_type_deserializers=deserializers)
    return OpenAPI.from_file_path(path, config=config)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    spec_dir, cases_path = sys.argv[1], sys.argv[2]
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    apis = {v: load(spec_dir, v) for v in ("1.1", "1.2")}
    wrong = 0
    for case in cases:
        is_request = case.get("kind") == "request"
        body = case["body"].encode("utf-8")
        request = MockRequest(
            "http://localhost",
            case["method"],
            case["path"],
            args=case.get("args") or None,
            headers={"Authorization": "Bearer t"} if is_request else None,
            data=body if is_request else None,
            content_type=case.get("content_type") if is_request else "application/json",
        )
        response = MockResponse(
            body,
            status_code=case["status"],
            content_type=case.get("content_type"),
            headers=case.get("headers") or {},
        )
        try:
            if is_request:
                apis[case["spec"]].validate_request(request)
            else:
                apis[case["spec"]].validate_response(request, response)
            outcome, detail = "valid", ""
        except Exception as e:  # openapi-core raises a family of errors
            outcome = "invalid"
            cause = f" ({e.__cause__})" if e.__cause__ else ""
            detail = f"{type(e).__name__}: {e}{cause}".replace("\n", " ")[:600]
        ok = outcome == case["expect"]
        wrong += not ok
        mark = "ok  " if ok else "FAIL"
        print(f"{mark} v{case['spec']} {case['label']}: {outcome} (expected {case['expect']}) {detail}")
    print(f"{len(cases) - wrong} of {len(cases)} cases as expected")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
