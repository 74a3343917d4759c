# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""TLS-RPT (RFC 8460) for the tests: the JSON schema of a report, with
the fields RFC 8460 4.4 requires (validated with python3-jsonschema)."""

# RFC 8460 4.4, the fields it requires
_DT = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T"}
TLSRPT_SCHEMA = {
    "type": "object",
    "required": ["organization-name", "date-range", "contact-info",
                 "report-id", "policies"],
    "properties": {
        "organization-name": {"type": "string"},
        "contact-info": {"type": "string"},
        "report-id": {"type": "string"},
        "date-range": {"type": "object",
                       "required": ["start-datetime", "end-datetime"],
                       "properties": {"start-datetime": _DT,
                                      "end-datetime": _DT}},
        "policies": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["policy", "summary"],
            "properties": {
                "policy": {"type": "object",
                           "required": ["policy-type", "policy-domain"],
                           "properties": {
                               "policy-type": {"enum": ["tlsa", "sts",
                                                        "no-policy-found"]},
                               "policy-string": {"type": "array", "items":
                                                 {"type": "string"}},
                               "policy-domain": {"type": "string"},
                               "mx-host": {"type": "array"}}},
                "summary": {"type": "object", "required": [
                    "total-successful-session-count",
                    "total-failure-session-count"], "additionalProperties":
                    {"type": "integer", "minimum": 0}},
                "failure-details": {"type": "array", "items": {
                    "type": "object",
                    "required": ["result-type", "failed-session-count"],
                    "properties": {"failed-session-count":
                                   {"type": "integer"}}}}}}}}}
