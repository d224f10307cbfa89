#!/usr/bin/env python3
"""A real OTLP/HTTP traces receiver (JSON and protobuf) for the telemetry tests (test code only).

Every POST /v1/traces body is checked against the official protobuf definitions of the
opentelemetry-proto package: google.protobuf.json_format.Parse into ExportTraceServiceRequest with
unknown fields refused, after the one conversion the OTLP specification makes to protobuf's JSON
mapping (trace and span ids are hex there, base64 in protobuf's mapping). Field names must be
lowerCamelCase, as OTLP/JSON requires. A protobuf body (application/x-protobuf) is parsed with the same
definitions and must encode back to the same bytes. A body that passes is appended to --out as one JSON line of
{"spans": [...]} with ids in hex; one that fails gets 400 and an {"error": ...} line, so a test sees
it. Prints "listening on http://127.0.0.1:PORT" once bound (port 0 picks a free one).

    otlp_receiver.py --out spans.jsonl [--port 0]
"""
import argparse
import base64
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

HEX_IDS = {"traceId": 32, "spanId": 16, "parentSpanId": 16}
LOCK = threading.Lock()


def check_and_convert(node, path="$"):
    """Refuses snake_case keys and malformed ids; hex ids become base64 for json_format."""
    if isinstance(node, dict):
        for key in list(node):
            if "_" in key:
                raise ValueError(f"{path}.{key}: OTLP/JSON field names are lowerCamelCase")
            value = node[key]
            if key in HEX_IDS and path.endswith("spans[]"):
                if not isinstance(value, str) or not re.fullmatch(f"[0-9a-f]{{{HEX_IDS[key]}}}", value):
                    raise ValueError(f"{path}.{key}: {value!r} is not {HEX_IDS[key]} lowercase hex digits")
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                check_and_convert(value, f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            check_and_convert(item, path + "[]")


def value_of(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def spans_of(request):
    out = []
    for rs in request.resource_spans:
        resource = {a.key: value_of(a.value) for a in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append({
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex(),
                    "trace_state": s.trace_state,
                    "name": s.name,
                    "kind": int(s.kind),
                    "start": s.start_time_unix_nano,
                    "end": s.end_time_unix_nano,
                    "status": int(s.status.code),
                    "attributes": {a.key: value_of(a.value) for a in s.attributes},
                    "service": resource.get("service.name"),
                    "scope": ss.scope.name,
                })
    return out


class Handler(BaseHTTPRequestHandler):
    out_path = None

    def log_message(self, *args):
        pass

    def write_line(self, record):
        with LOCK, open(self.out_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        try:
            if self.path != "/v1/traces":
                raise ValueError(f"POST {self.path}: the traces path is /v1/traces")
            content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
            if content_type == "application/x-protobuf":
                request = ExportTraceServiceRequest.FromString(body)
                # Strict: what the message holds, encoded again, must be the very bytes sent, so an
                # unknown field, a wrong wire type or a field written twice is caught (the parser itself
                # would skip or merge them).
                if request.SerializeToString() != body:
                    raise ValueError("the protobuf body does not re-encode to itself: unknown or malformed fields")
            elif content_type == "application/json":
                doc = json.loads(body)
                check_and_convert(doc)
                request = json_format.Parse(json.dumps(doc), ExportTraceServiceRequest(), ignore_unknown_fields=False)
            else:
                raise ValueError(f"Content-Type {self.headers.get('Content-Type')!r}, expected application/json "
                                 "or application/x-protobuf")
            spans = spans_of(request)
        except Exception as e:  # any failure is the exporter's: report it to the test
            self.write_line({"error": f"{type(e).__name__}: {e}", "body": body[:2000].decode("utf-8", "replace")})
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            reply = json.dumps({"error": str(e)}).encode()
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            return
        self.write_line({"spans": spans, "content_type": content_type,
                         "traceparent_seen": self.headers.get("traceparent")})
        if content_type == "application/x-protobuf":
            reply = ExportTraceServiceResponse().SerializeToString()
        else:
            reply = json_format.MessageToJson(ExportTraceServiceResponse()).encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    Handler.out_path = args.out
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
