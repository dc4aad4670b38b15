#!/usr/bin/env python3
# Checks a real puffer-server against docs/openapi.yaml. It runs a scripted sequence of requests
# over loopback that covers every path and method in the spec and the error statuses a client
# can provoke (400, 404, 405, 409, 413, and 503 during a graceful stop), then 500
# collection_failed (a second server on a data directory whose MANIFEST was damaged) and 507
# insufficient_storage (a third on a full 4 MiB tmpfs; mounting needs root: without it the check
# is skipped at a desk and fails under CI=true). Each response's status
# must be one the spec documents for that operation (and the one the script expects), and its
# body must match the spec's schema. Prints one line per check and exits 1 on any mismatch.
#
# Usage: openapi_check.py --server-binary build/apps/puffer-server --spec docs/openapi.yaml
# Needs only the Python standard library and PyYAML (python3-yaml).

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import yaml

MAX_BODY_MB = 1
HTTP_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
# Keywords that carry no constraint; the validator rejects any other keyword it does not know,
# so the spec cannot use a constraint that silently goes unchecked.
ANNOTATIONS = {"description", "example", "default", "title", "format"}


class CheckFailed(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# A small JSON-schema validator for the subset the spec uses.

class Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        if not str(self.doc.get("openapi", "")).startswith("3.0"):
            raise CheckFailed(f"{path}: not an OpenAPI 3.0 document")

    def resolve(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise CheckFailed(f"unsupported $ref {ref}")
            target = self.doc
            for part in ref[2:].split("/"):
                if not isinstance(target, dict) or part not in target:
                    raise CheckFailed(f"unresolved $ref {ref}")
                target = target[part]
            node = target
            seen += 1
            if seen > 32:
                raise CheckFailed(f"$ref loop at {ref}")
        return node

    def operation(self, template, method):
        item = self.doc["paths"].get(template)
        if item is None:
            return None
        return item.get(method.lower())

    def methods(self, template):
        item = self.doc["paths"][template]
        return sorted(m.upper() for m in item if m.upper() in HTTP_METHODS)

    def validate(self, schema, value, where="$"):
        errors = []
        self._validate(schema, value, where, errors)
        return errors

    def _validate(self, schema, value, where, errors):
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            errors.append(f"{where}: schema is not an object")
            return
        known = {"type", "properties", "required", "additionalProperties", "items", "enum",
                 "nullable", "minimum", "maximum", "minItems", "maxItems", "minLength",
                 "maxLength", "pattern", "oneOf"} | ANNOTATIONS
        for key in schema:
            if key not in known:
                errors.append(f"{where}: the validator does not support keyword '{key}'")
                return
        if value is None and schema.get("nullable", False):
            return
        if "oneOf" in schema:
            matches = sum(1 for s in schema["oneOf"] if not self.validate(s, value, where))
            if matches != 1:
                errors.append(f"{where}: matches {matches} of the oneOf schemas (need exactly 1)")
            return
        kind = schema.get("type")
        if kind is not None and not type_matches(kind, value):
            errors.append(f"{where}: expected {kind}{' or null' if schema.get('nullable') else ''},"
                          f" found {json.dumps(value)[:80]}")
            return
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{where}: {json.dumps(value)[:80]} not in {schema['enum']}")
        if is_number(value):
            if "minimum" in schema and value < schema["minimum"]:
                errors.append(f"{where}: {value} below the minimum {schema['minimum']}")
            if "maximum" in schema and value > schema["maximum"]:
                errors.append(f"{where}: {value} above the maximum {schema['maximum']}")
        if isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                errors.append(f"{where}: string shorter than {schema['minLength']}")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                errors.append(f"{where}: string longer than {schema['maxLength']}")
            if "pattern" in schema and re.search(schema["pattern"], value) is None:
                errors.append(f"{where}: {value[:80]!r} does not match {schema['pattern']}")
        if isinstance(value, list):
            if "minItems" in schema and len(value) < schema["minItems"]:
                errors.append(f"{where}: fewer than {schema['minItems']} items")
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                errors.append(f"{where}: more than {schema['maxItems']} items")
            if "items" in schema:
                for i, item in enumerate(value):
                    self._validate(schema["items"], item, f"{where}[{i}]", errors)
        if isinstance(value, dict):
            properties = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in value:
                    errors.append(f"{where}: missing required property '{name}'")
            extra = schema.get("additionalProperties", True)
            for name, item in value.items():
                if name in properties:
                    self._validate(properties[name], item, f"{where}.{name}", errors)
                elif extra is False:
                    errors.append(f"{where}: property '{name}' is not in the schema")
                elif isinstance(extra, dict):
                    self._validate(extra, item, f"{where}.{name}", errors)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def type_matches(kind, value):
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return is_number(value)
    raise CheckFailed(f"unsupported schema type {kind}")


# ---------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 client: full control over methods and bodies, keep-alive, and raw bytes.

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body


class Connection:
    def __init__(self, port, receive_buffer_bytes=None):
        self.port = port
        self.receive_buffer_bytes = receive_buffer_bytes
        self.sock = None
        self.buffer = b""

    def connect(self):
        if self.sock is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if self.receive_buffer_bytes is not None:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer_bytes)
            s.settimeout(30)
            s.connect(("127.0.0.1", self.port))
            self.sock = s
            self.buffer = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buffer = b""

    def send_raw(self, data):
        self.connect()
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (413) and close before it has read everything

    def send(self, method, target, body=None, extra_headers=None):
        head = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        if body is not None:
            head.append("Content-Type: application/json")
            head.append(f"Content-Length: {len(body)}")
        for name, value in (extra_headers or {}).items():
            head.append(f"{name}: {value}")
        self.send_raw(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise CheckFailed("connection closed by the server before a whole response arrived")
        self.buffer += chunk

    def read_head(self):
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise CheckFailed(f"bad status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    def read_response(self):
        status, headers = self.read_head()
        if "content-length" not in headers:
            raise CheckFailed(f"response {status} has no Content-Length")
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

    def request(self, method, target, body=None, extra_headers=None):
        self.send(method, target, body, extra_headers)
        return self.read_response()


# ---------------------------------------------------------------------------------------------
# The checks.

class Checker:
    def __init__(self, spec, port):
        self.spec = spec
        self.port = port
        self.conn = Connection(port)
        self.failures = 0
        self.count = 0
        self.exercised = {}  # (template, METHOD) -> set of statuses seen
        self.statuses_seen = set()
        self.skipped_statuses = set()  # could not be provoked here (no mount at a desk)

    def absorb(self, other):
        """Adds the checks of a checker that ran against another server."""
        self.count += other.count
        self.failures += other.failures
        self.statuses_seen |= other.statuses_seen
        for key, statuses in other.exercised.items():
            self.exercised.setdefault(key, set()).update(statuses)

    def report(self, ok, label, detail=""):
        self.count += 1
        if not ok:
            self.failures += 1
        line = f"{'PASS' if ok else 'FAIL'} {label}"
        if detail:
            line += f": {detail}"
        print(line, flush=True)
        return ok

    def expect(self, label, condition, detail=""):
        return self.report(bool(condition), label, "" if condition else detail)

    def response_object(self, template, method, status):
        """The spec's response object for a status, or None when it is not documented."""
        if template is None:
            name = {404: "RouteNotFound", 405: "MethodNotAllowed", 400: "BadRequest",
                    413: "PayloadTooLarge"}.get(status)
            return None if name is None else self.spec.doc["components"]["responses"].get(name)
        op = self.spec.operation(template, method)
        if op is None:
            if status == 405:
                return self.spec.doc["components"]["responses"]["MethodNotAllowed"]
            return None
        responses = op.get("responses", {})
        return responses.get(str(status))

    def documented_statuses(self, template, method):
        if template is None:
            return [400, 404, 413]
        op = self.spec.operation(template, method)
        if op is None:
            return [405, 413]
        return sorted(int(s) for s in op.get("responses", {}))

    def check_request_schema(self, label, template, method, body, valid):
        op = self.spec.operation(template, method)
        request_body = op.get("requestBody") if op else None
        if request_body is None:
            return
        schema = self.spec.resolve(request_body)["content"]["application/json"]["schema"]
        errors = self.spec.validate(schema, body)
        if valid:
            self.expect(f"{label} [request matches the spec]", not errors, "; ".join(errors[:3]))
        else:
            self.expect(f"{label} [spec rejects the request]", errors,
                        "the request schema accepts a body the server rejects")

    def validate_response(self, label, template, method, response, expect_status,
                          expect_code=None):
        """Checks status, headers and body of response against the spec; returns the JSON body."""
        status = response.status
        self.statuses_seen.add(status)
        if template is not None:
            self.exercised.setdefault((template, method), set()).add(status)
        documented = self.documented_statuses(template, method)
        problems = []
        if status != expect_status:
            problems.append(f"status {status}, expected {expect_status}")
        if status not in documented:
            problems.append(f"status {status} is not documented (documented: {documented})")
        resp = self.response_object(template, method, status)
        text = resp is not None and "text/plain" in self.spec.resolve(resp).get("content", {})
        payload = None
        if text:
            # A text answer (/metrics): its Content-Type and UTF-8; the caller checks the text.
            if not response.headers.get("content-type", "").startswith("text/plain"):
                problems.append(f"Content-Type {response.headers.get('content-type')!r}, expected text/plain")
            try:
                response.body.decode("utf-8")
            except UnicodeDecodeError as e:
                problems.append(f"body is not UTF-8 ({e})")
        else:
            if response.headers.get("content-type") != "application/json":
                problems.append(f"Content-Type {response.headers.get('content-type')!r}")
            try:
                payload = json.loads(response.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                problems.append(f"body is not JSON ({e}): {response.body[:120]!r}")
        if resp is not None and payload is not None:
            resp = self.spec.resolve(resp)
            schema = resp.get("content", {}).get("application/json", {}).get("schema")
            if schema is None:
                problems.append(f"the spec has no application/json schema for {status}")
            else:
                problems.extend(self.spec.validate(schema, payload)[:5])
            for name, header in resp.get("headers", {}).items():
                header = self.spec.resolve(header)
                value = response.headers.get(name.lower())
                if value is None:
                    if header.get("required"):
                        problems.append(f"missing header {name}")
                    continue
                problems.extend(self.spec.validate(header.get("schema", {}), value,
                                                   f"header {name}")[:2])
        if expect_code is not None and isinstance(payload, dict):
            code = payload.get("error", {}).get("code") if isinstance(payload.get("error"), dict) else None
            if code != expect_code:
                problems.append(f"error code {code!r}, expected {expect_code!r}")
        self.report(not problems, f"{label}: {method} -> {status}", "; ".join(problems))
        return payload

    def call(self, label, method, template, path, body=None, expect=200, code=None,
             request_valid=None, raw_body=None, conn=None):
        """One request. body: a JSON value (serialized) or None; raw_body: bytes sent as is."""
        data = raw_body
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
        if request_valid is not None and body is not None:
            self.check_request_schema(label, template, method, body, request_valid)
        connection = conn or self.conn
        try:
            response = connection.request(method, path, data)
        except (OSError, CheckFailed) as e:
            connection.close()
            self.report(False, f"{label}: {method} {path}", f"request failed: {e}")
            return None
        return self.validate_response(label, template, method, response, expect, code)


# ---------------------------------------------------------------------------------------------
# The scripted sequence.

def run_sequence(c):
    C = "/v1/collections"
    NAME = "/v1/collections/{name}"
    STATS = "/v1/collections/{name}/stats"
    POINTS = "/v1/collections/{name}/points"
    DELETE = "/v1/collections/{name}/points/delete"
    SEARCH = "/v1/collections/{name}/search"
    FLUSH = "/v1/collections/{name}/flush"
    COMPACT = "/v1/collections/{name}/compact"

    # Health and an empty server.
    c.call("health", "GET", "/healthz", "/healthz")
    c.call("metrics", "GET", "/metrics", "/metrics")
    listed = c.call("empty list", "GET", C, C)
    c.expect("empty list has no collections", listed == {"collections": []}, repr(listed))

    # Create.
    created = c.call("create docs (cosine)", "POST", C, C,
                     {"name": "docs", "dimension": 3, "metric": "cosine"}, 201, request_valid=True)
    c.expect("create returns the summary", created == {"name": "docs", "dimension": 3, "metric": "cosine",
                                                       "points": 0, "status": "ok"}, repr(created))
    created = c.call("create l2c (default metric)", "POST", C, C, {"name": "l2c", "dimension": 2}, 201,
                     request_valid=True)
    c.expect("default metric is l2", isinstance(created, dict) and created.get("metric") == "l2", repr(created))
    created = c.call("create ipc (dot)", "POST", C, C, {"name": "ipc", "dimension": 2, "metric": "dot"}, 201,
                     request_valid=True)
    c.expect("dot is reported as ip", isinstance(created, dict) and created.get("metric") == "ip", repr(created))
    c.call("create docs again", "POST", C, C, {"name": "docs", "dimension": 3}, 409, "already_exists",
           request_valid=True)
    bad_creates = [
        ("create: name with a dot", {"name": "bad.name", "dimension": 3}),
        ("create: name of 65 characters", {"name": "a" * 65, "dimension": 3}),
        ("create: name not a string", {"name": 5, "dimension": 3}),
        ("create: no name", {"dimension": 3}),
        ("create: no dimension", {"name": "x"}),
        ("create: dimension 0", {"name": "x", "dimension": 0}),
        ("create: dimension 65537", {"name": "x", "dimension": 65537}),
        ("create: dimension 3.5", {"name": "x", "dimension": 3.5}),
        ("create: dimension as a string", {"name": "x", "dimension": "3"}),
        ("create: unknown metric", {"name": "x", "dimension": 3, "metric": "hamming"}),
        ("create: metric null", {"name": "x", "dimension": 3, "metric": None}),
        ("create: unknown field", {"name": "x", "dimension": 3, "extra": 1}),
    ]
    for label, body in bad_creates:
        c.call(label, "POST", C, C, body, 400, "invalid_argument", request_valid=False)
    c.call("create: invalid JSON", "POST", C, C, raw_body=b'{"name":"x","dimension":3', expect=400,
           code="invalid_argument")
    c.call("create: empty body", "POST", C, C, raw_body=b"", expect=400, code="invalid_argument")
    c.call("create: body is an array", "POST", C, C, raw_body=b"[1]", expect=400, code="invalid_argument")

    listed = c.call("list three", "GET", C, C)
    names = [e.get("name") for e in listed.get("collections", [])] if isinstance(listed, dict) else None
    c.expect("list is sorted by name", names == ["docs", "ipc", "l2c"], repr(names))

    # One collection.
    c.call("get docs", "GET", NAME, "/v1/collections/docs")
    c.call("get unknown", "GET", NAME, "/v1/collections/nope", expect=404, code="not_found")
    c.call("get bad name", "GET", NAME, "/v1/collections/bad.name", expect=400, code="invalid_argument")
    c.call("get with query string and slashes", "GET", NAME, "//v1//collections/docs/?x=1")

    # Upsert.
    points = {"points": [
        {"id": "a", "vector": [1, 0, 0], "payload": {"color": "red"}},
        {"id": 7, "vector": [0.9, 0.1, 0]},
        {"id": "c", "vector": [0, 1, 0], "payload": None},
    ]}
    up = c.call("upsert 3 points", "POST", POINTS, "/v1/collections/docs/points", points,
                request_valid=True)
    c.expect("upserted counts the request's points", up == {"upserted": 3}, repr(up))
    got = c.call("points counted", "GET", NAME, "/v1/collections/docs")
    c.expect("docs has 3 points", isinstance(got, dict) and got.get("points") == 3, repr(got))
    bad_points = [
        ("upsert: empty id", {"points": [{"id": "", "vector": [1, 2, 3]}]}, False),
        ("upsert: id of 257 bytes", {"points": [{"id": "x" * 257, "vector": [1, 2, 3]}]}, False),
        ("upsert: negative id", {"points": [{"id": -1, "vector": [1, 2, 3]}]}, False),
        ("upsert: fractional id", {"points": [{"id": 1.5, "vector": [1, 2, 3]}]}, False),
        ("upsert: no id", {"points": [{"vector": [1, 2, 3]}]}, False),
        ("upsert: no vector", {"points": [{"id": "a"}]}, False),
        ("upsert: vector not an array", {"points": [{"id": "a", "vector": "x"}]}, False),
        ("upsert: empty vector", {"points": [{"id": "a", "vector": []}]}, False),
        ("upsert: value not a number", {"points": [{"id": "a", "vector": [1, 2, "x"]}]}, False),
        ("upsert: value beyond float32", {"points": [{"id": "a", "vector": [1, 2, 1e39]}]}, False),
        ("upsert: payload not an object", {"points": [{"id": "a", "vector": [1, 2, 3], "payload": [1]}]},
         False),
        ("upsert: unknown point field", {"points": [{"id": "a", "vector": [1, 2, 3], "x": 1}]}, False),
        ("upsert: unknown top-level field", {"points": [{"id": "a", "vector": [1, 2, 3]}], "x": 1}, False),
        ("upsert: empty points", {"points": []}, False),
        ("upsert: points not an array", {"points": {}}, False),
        ("upsert: no points", {}, False),
        # Valid for the schema; the server checks these against the collection.
        ("upsert: wrong dimension", {"points": [{"id": "a", "vector": [1, 2]}]}, True),
        ("upsert: lengths differ", {"points": [{"id": "a", "vector": [1, 2, 3]}, {"id": "b", "vector": [1, 2]}]},
         True),
        ("upsert: zero vector in cosine", {"points": [{"id": "z", "vector": [0, 0, 0]}]}, True),
    ]
    for label, body, schema_ok in bad_points:
        c.call(label, "POST", POINTS, "/v1/collections/docs/points", body, 400, "invalid_argument",
               request_valid=schema_ok)
    got = c.call("rejected batches stored nothing", "GET", NAME, "/v1/collections/docs")
    c.expect("docs still has 3 points", isinstance(got, dict) and got.get("points") == 3, repr(got))
    c.call("upsert: unknown collection", "POST", POINTS, "/v1/collections/nope/points",
           {"points": [{"id": "a", "vector": [1, 2, 3]}]}, 404, "not_found", request_valid=True)
    c.call("upsert: bad name", "POST", POINTS, "/v1/collections/bad.name/points",
           {"points": [{"id": "a", "vector": [1, 2, 3]}]}, 400, "invalid_argument")

    # Search.
    found = c.call("search with payloads", "POST", SEARCH, "/v1/collections/docs/search",
                   {"vector": [1, 0, 0], "top_k": 2, "include_payload": True}, request_valid=True)
    if isinstance(found, dict) and isinstance(found.get("results"), list):
        results = found["results"]
        c.expect("search: top_k bounds the results", len(results) == 2, repr(results))
        c.expect("search: best first, ids as strings", [r.get("id") for r in results] == ["a", "7"],
                 repr(results))
        c.expect("search: payload object and null", [r.get("payload") for r in results] == [{"color": "red"}, None],
                 repr(results))
        c.expect("search: cosine score of the same direction is 1",
                 bool(results) and abs(results[0].get("score", 0) - 1.0) < 1e-6, repr(results))
    found = c.call("search with defaults", "POST", SEARCH, "/v1/collections/docs/search",
                   {"vector": [1, 0, 0]}, request_valid=True)
    if isinstance(found, dict) and isinstance(found.get("results"), list):
        c.expect("search: no payload key unless asked",
                 all("payload" not in r for r in found["results"]), repr(found["results"]))
        scores = [r.get("score") for r in found["results"]]
        c.expect("search: cosine scores descend", scores == sorted(scores, reverse=True), repr(scores))
    c.call("search with null options", "POST", SEARCH, "/v1/collections/docs/search",
           {"vector": [1, 0, 0], "nprobe": None, "include_payload": None}, request_valid=True)
    c.call("search with a huge nprobe", "POST", SEARCH, "/v1/collections/docs/search",
           {"vector": [1, 0, 0], "nprobe": 1000000, "top_k": 1000}, request_valid=True)
    c.call("upsert into l2c", "POST", POINTS, "/v1/collections/l2c/points",
           {"points": [{"id": "p", "vector": [0, 0]}, {"id": "q", "vector": [3, 4]}]}, request_valid=True)
    found = c.call("search l2c", "POST", SEARCH, "/v1/collections/l2c/search", {"vector": [0, 0]},
                   request_valid=True)
    if isinstance(found, dict) and isinstance(found.get("results"), list):
        pairs = [(r.get("id"), r.get("score")) for r in found["results"]]
        c.expect("search: l2 scores are squared distances, ascending", pairs == [("p", 0), ("q", 25)], repr(pairs))
    c.call("upsert into ipc", "POST", POINTS, "/v1/collections/ipc/points",
           {"points": [{"id": "p", "vector": [1, 0]}, {"id": "q", "vector": [2, 2]}]}, request_valid=True)
    found = c.call("search ipc", "POST", SEARCH, "/v1/collections/ipc/search", {"vector": [1, 1]},
                   request_valid=True)
    if isinstance(found, dict) and isinstance(found.get("results"), list):
        pairs = [(r.get("id"), r.get("score")) for r in found["results"]]
        c.expect("search: ip scores are dot products, descending", pairs == [("q", 4), ("p", 1)], repr(pairs))
    bad_searches = [
        ("search: top_k 0", {"vector": [1, 0, 0], "top_k": 0}, False),
        ("search: top_k 1001", {"vector": [1, 0, 0], "top_k": 1001}, False),
        ("search: top_k null", {"vector": [1, 0, 0], "top_k": None}, False),
        ("search: nprobe 0", {"vector": [1, 0, 0], "nprobe": 0}, False),
        ("search: include_payload not a boolean", {"vector": [1, 0, 0], "include_payload": 1}, False),
        ("search: no vector", {}, False),
        ("search: empty vector", {"vector": []}, False),
        ("search: unknown field", {"vector": [1, 0, 0], "k": 3}, False),
        ("search: wrong dimension", {"vector": [1, 0]}, True),
        ("search: zero query in cosine", {"vector": [0, 0, 0]}, True),
    ]
    for label, body, schema_ok in bad_searches:
        c.call(label, "POST", SEARCH, "/v1/collections/docs/search", body, 400, "invalid_argument",
               request_valid=schema_ok)
    c.call("search: unknown collection", "POST", SEARCH, "/v1/collections/nope/search", {"vector": [1, 0, 0]},
           404, "not_found", request_valid=True)

    # Stats, flush, then search a segment.
    stats = c.call("stats", "GET", STATS, "/v1/collections/docs/stats")
    c.expect("stats: 3 staging vectors", isinstance(stats, dict) and stats.get("staging_vectors") == 3,
             repr(stats))
    c.call("stats: unknown collection", "GET", STATS, "/v1/collections/nope/stats", expect=404, code="not_found")
    c.call("flush", "POST", FLUSH, "/v1/collections/docs/flush", raw_body=b"{}")
    c.call("flush without a body", "POST", FLUSH, "/v1/collections/docs/flush")
    c.call("flush: unknown collection", "POST", FLUSH, "/v1/collections/nope/flush", expect=404, code="not_found")
    stats = c.call("stats after flush", "GET", STATS, "/v1/collections/docs/stats")
    c.expect("stats: one segment after flush", isinstance(stats, dict) and stats.get("segments") == 1
             and stats.get("staging_vectors") == 0, repr(stats))
    found = c.call("search the segment", "POST", SEARCH, "/v1/collections/docs/search",
                   {"vector": [1, 0, 0], "top_k": 3, "nprobe": 1, "include_payload": True}, request_valid=True)
    if isinstance(found, dict) and isinstance(found.get("stats"), dict):
        c.expect("search: stats count the segment", found["stats"].get("segments") == 1, repr(found["stats"]))
        c.expect("search: payload read from the segment",
                 found["results"][0].get("payload") == {"color": "red"}, repr(found["results"]))

    # Filters: a filtered search and counts; a malformed filter is 400 naming the node.
    filtered = c.call("search with a filter", "POST", SEARCH, "/v1/collections/docs/search",
                      {"vector": [1, 0, 0], "top_k": 3, "filter": {"eq": ["color", "red"]}}, request_valid=True)
    if isinstance(filtered, dict) and isinstance(filtered.get("stats"), dict):
        c.expect("filtered search: only the red point", [r.get("id") for r in filtered["results"]] == ["a"],
                 repr(filtered["results"]))
        c.expect("filtered search: stats say how", filtered["stats"].get("matches") == 1
                 and filtered["stats"].get("exhaustive") is True, repr(filtered["stats"]))
    COUNT = "/v1/collections/{name}/points/count"
    counted = c.call("count", "POST", COUNT, "/v1/collections/docs/points/count")
    c.expect("count: every point", isinstance(counted, dict) and counted.get("count", 0) >= 3, repr(counted))
    counted = c.call("count with a filter", "POST", COUNT, "/v1/collections/docs/points/count",
                     {"filter": {"eq": ["color", "red"]}}, request_valid=True)
    c.expect("count: one red point", counted == {"count": 1}, repr(counted))
    c.call("count: a malformed filter", "POST", COUNT, "/v1/collections/docs/points/count",
           {"filter": {"eq": ["color"]}}, 400, "invalid_argument", request_valid=True)
    c.call("count: unknown field", "POST", COUNT, "/v1/collections/docs/points/count", {"where": {}}, 400,
           "invalid_argument", request_valid=False)
    c.call("count: unknown collection", "POST", COUNT, "/v1/collections/nope/points/count", {}, 404, "not_found",
           request_valid=True)
    c.call("search: a filter with two operators", "POST", SEARCH, "/v1/collections/docs/search",
           {"vector": [1, 0, 0], "filter": {"eq": ["color", "red"], "exists": "color"}}, 400, "invalid_argument",
           request_valid=True)

    # Batch search: answers in order, each with its own options; an invalid item fails the batch.
    BATCH = "/v1/collections/{name}/search/batch"
    batch = c.call("batch search", "POST", BATCH, "/v1/collections/docs/search/batch",
                   {"searches": [{"vector": [1, 0, 0], "top_k": 1},
                                 {"vector": [0, 1, 0], "top_k": 2, "include_payload": True},
                                 {"vector": [1, 0, 0], "top_k": 3, "recall_target": 0.9}]},
                   request_valid=True)
    if isinstance(batch, dict) and isinstance(batch.get("results"), list):
        c.expect("batch: one answer per search, in order", [len(r) for r in batch["results"]] == [1, 2, 3],
                 repr(batch["results"]))
        c.expect("batch: the first answer is the nearest", batch["results"][0][0].get("id") == "a",
                 repr(batch["results"][0]))
    bad_batches = [
        ("batch: no searches", {}, False),
        ("batch: empty", {"searches": []}, False),
        ("batch: not an array", {"searches": {"vector": [1, 0, 0]}}, False),
        ("batch: an item without a vector", {"searches": [{"vector": [1, 0, 0]}, {"top_k": 2}]}, False),
        ("batch: an item of the wrong dimension", {"searches": [{"vector": [1, 0, 0]}, {"vector": [1, 0]}]}, True),
        # The schema cannot say "not both"; the description does.
        ("batch: nprobe and recall_target", {"searches": [{"vector": [1, 0, 0], "nprobe": 2, "recall_target": 0.9}]},
         True),
    ]
    for label, body, schema_ok in bad_batches:
        c.call(label, "POST", BATCH, "/v1/collections/docs/search/batch", body, 400, "invalid_argument",
               request_valid=schema_ok)
    c.call("batch: unknown collection", "POST", BATCH, "/v1/collections/nope/search/batch",
           {"searches": [{"vector": [1, 0, 0]}]}, 404, "not_found", request_valid=True)
    c.call("search: recall_target out of range", "POST", SEARCH, "/v1/collections/docs/search",
           {"vector": [1, 0, 0], "recall_target": 1.5}, 400, "invalid_argument", request_valid=False)

    # Recall: sampled queries (or given ones) searched as asked and exhaustively.
    RECALL = "/v1/collections/{name}/recall"
    measured = c.call("recall", "POST", RECALL, "/v1/collections/docs/recall", {"num_queries": 3, "top_k": 2},
                      request_valid=True)
    if isinstance(measured, dict):
        c.expect("recall: between 0 and 1", 0 <= measured.get("recall", -1) <= 1, repr(measured))
    c.call("recall with given queries", "POST", RECALL, "/v1/collections/docs/recall",
           {"queries": [[1, 0, 0], [0, 1, 0]], "nprobe": 1}, request_valid=True)
    c.call("recall: num_queries 0", "POST", RECALL, "/v1/collections/docs/recall", {"num_queries": 0}, 400,
           "invalid_argument", request_valid=False)
    c.call("recall: unknown collection", "POST", RECALL, "/v1/collections/nope/recall", {}, 404, "not_found",
           request_valid=True)

    # Delete points.
    deleted = c.call("delete points", "POST", DELETE, "/v1/collections/docs/points/delete", {"ids": ["c", "zz"]},
                     request_valid=True)
    c.expect("deleted counts existing ids", deleted == {"deleted": 1}, repr(deleted))
    deleted = c.call("delete an integer id", "POST", DELETE, "/v1/collections/docs/points/delete", {"ids": [7]},
                     request_valid=True)
    c.expect("integer id 7 is id \"7\"", deleted == {"deleted": 1}, repr(deleted))
    bad_deletes = [
        ("delete: empty ids", {"ids": []}),
        ("delete: no ids", {}),
        ("delete: negative id", {"ids": [5, "a", -3]}),
        ("delete: empty id", {"ids": [""]}),
        ("delete: unknown field", {"ids": ["a"], "x": 1}),
    ]
    for label, body in bad_deletes:
        c.call(label, "POST", DELETE, "/v1/collections/docs/points/delete", body, 400, "invalid_argument",
               request_valid=False)
    c.call("delete: unknown collection", "POST", DELETE, "/v1/collections/nope/points/delete", {"ids": ["a"]},
           404, "not_found", request_valid=True)

    # Compact.
    c.call("compact", "POST", COMPACT, "/v1/collections/docs/compact")
    c.call("compact: unknown collection", "POST", COMPACT, "/v1/collections/nope/compact", expect=404,
           code="not_found")
    got = c.call("one point left", "GET", NAME, "/v1/collections/docs")
    c.expect("docs has 1 point", isinstance(got, dict) and got.get("points") == 1, repr(got))

    # 405 on every path for every method it does not take, with the right Allow header.
    concrete = {"/healthz": "/healthz", "/metrics": "/metrics", C: C}
    for template in c.spec.doc["paths"]:
        concrete.setdefault(template, template.replace("{name}", "docs"))
    for template, path in concrete.items():
        allowed = c.spec.methods(template)
        for method in HTTP_METHODS:
            if method in allowed:
                continue
            try:
                response = c.conn.request(method, path, b"{}" if method in ("POST", "PUT", "PATCH") else None)
            except (OSError, CheckFailed) as e:
                c.conn.close()
                c.report(False, f"405 {method} {path}", f"request failed: {e}")
                continue
            c.validate_response(f"405 on {path}", template, method, response, 405, "method_not_allowed")
            allow = sorted(m.strip() for m in response.headers.get("allow", "").split(","))
            c.expect(f"405 on {path}: {method} Allow lists the spec's methods", allow == allowed,
                     f"Allow {allow}, spec {allowed}")

    # 404 for paths that are not routes.
    for path in ["/", "/healthz/x", "/v1", "/v2/collections", "/v1/things", "/v1/collections/docs/frob",
                 "/v1/collections/docs/points/a/b", "/v1/collections/docs/a/b/c"]:
        c.call(f"route {path}", "GET", None, path, expect=404, code="route_not_found")

    # 400 for malformed HTTP (raw bytes, fresh connections).
    for label, data in [("malformed: bad method", b"GARBAGE\r\n\r\n"),
                        ("malformed: bad Content-Length",
                         b"POST /v1/collections HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")]:
        raw = Connection(c.port)
        try:
            raw.send_raw(data)
            response = raw.read_response()
            c.validate_response(label, None, "-", response, 400, "bad_request")
            c.expect(f"{label}: connection closed", response.headers.get("connection", "").lower() == "close",
                     repr(response.headers))
        except (OSError, CheckFailed) as e:
            c.report(False, label, f"request failed: {e}")
        finally:
            raw.close()

    # 413 for bodies over the limit, on a route and before routing; exactly the limit is accepted.
    limit = MAX_BODY_MB << 20
    prefix = b'{"name":"pad","dimension":2}'
    c.call("body of exactly the limit", "POST", C, C, raw_body=prefix + b" " * (limit - len(prefix)), expect=201)
    over = Connection(c.port)
    try:
        over.send("POST", "/v1/collections/docs/points", b"[" + b" " * limit + b"]")
        response = over.read_response()
        c.validate_response("body over the limit", POINTS, "POST", response, 413, "payload_too_large")
    except (OSError, CheckFailed) as e:
        c.report(False, "body over the limit", f"request failed: {e}")
    finally:
        over.close()
    over = Connection(c.port)
    try:
        over.send("GET", "/no/such/route", b" " * (limit + 1))
        response = over.read_response()
        c.validate_response("body over the limit on an unknown route", None, "GET", response, 413,
                            "payload_too_large")
    except (OSError, CheckFailed) as e:
        c.report(False, "body over the limit on an unknown route", f"request failed: {e}")
    finally:
        over.close()

    # Delete a collection.
    gone = c.call("delete l2c", "DELETE", NAME, "/v1/collections/l2c")
    c.expect("delete names the collection", gone == {"deleted": "l2c"}, repr(gone))
    c.call("delete l2c again", "DELETE", NAME, "/v1/collections/l2c", expect=404, code="not_found")
    c.call("delete: bad name", "DELETE", NAME, "/v1/collections/bad.name", expect=400, code="invalid_argument")
    c.call("l2c is gone", "GET", NAME, "/v1/collections/l2c", expect=404, code="not_found")


def run_shutdown(c, server):
    """503 shutting_down with Retry-After while a request is still in flight during a stop."""
    POINTS = "/v1/collections/{name}/points"
    c.call("create big", "POST", "/v1/collections", "/v1/collections", {"name": "big", "dimension": 2}, 201)
    payload_text = "x" * (900 * 1024)
    rows = 32
    for i in range(rows):
        c.call(f"upsert big payload {i}", "POST", POINTS, "/v1/collections/big/points",
               {"points": [{"id": f"p{i}", "vector": [float(i), 1.0], "payload": {"s": payload_text}}]})
    # Connections opened before the stop (the listener closes when it begins).
    health = Connection(c.port)
    create = Connection(c.port)
    c.call("health before stop", "GET", "/healthz", "/healthz", conn=health)
    c.call("list before stop", "GET", "/v1/collections", "/v1/collections", conn=create)
    # A search whose ~28 MiB response the client does not read keeps one request in flight.
    stalled = Connection(c.port, receive_buffer_bytes=4096)
    body = json.dumps({"vector": [0, 1], "top_k": rows, "include_payload": True}).encode()
    stalled.send("POST", "/v1/collections/big/search", body)
    status, _ = stalled.read_head()
    c.expect("stalled search has started answering", status == 200, f"status {status}")
    server.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    answered = False
    while time.monotonic() < deadline:
        try:
            response = health.request("GET", "/healthz")
        except (OSError, CheckFailed) as e:
            c.report(False, "health during stop", f"request failed: {e}")
            break
        if response.status == 503:
            c.validate_response("health during stop", "/healthz", "GET", response, 503, "shutting_down")
            c.expect("health during stop: Retry-After is 1", response.headers.get("retry-after") == "1",
                     repr(response.headers))
            answered = True
            break
        c.validate_response("health before the stop began", "/healthz", "GET", response, 200)
        time.sleep(0.05)
    c.expect("the server answered 503 while stopping", answered)
    if answered:
        c.call("create during stop", "POST", "/v1/collections", "/v1/collections",
               {"name": "late", "dimension": 2}, 503, "shutting_down", conn=create)
    stalled.close()
    health.close()
    create.close()
    try:
        code = server.wait(timeout=40)
        c.expect("server exits with status 0 after the stop", code == 0, f"exit status {code}")
    except subprocess.TimeoutExpired:
        c.report(False, "server exits after the stop", "still running 40 s after SIGTERM")


def start_server(server_binary, data_dir, port_file, log, extra=()):
    if os.path.exists(port_file):
        os.remove(port_file)
    return subprocess.Popen(
        [server_binary, "--data-dir", data_dir, "--bind-addr", "127.0.0.1:0", "--port-file", port_file,
         "--log-level", "warn", "--max-body-mb", str(MAX_BODY_MB), *extra],
        stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)


def stop_server(c, label, server):
    """Graceful stop; the exit status must be 0 (sanitizer reports at exit count)."""
    server.send_signal(signal.SIGTERM)
    try:
        code = server.wait(timeout=40)
        c.expect(f"{label}: server exits with status 0 after SIGTERM", code == 0, f"exit status {code}")
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        c.report(False, f"{label}: server exits after SIGTERM", "still running 40 s after SIGTERM")


def in_ci():
    return os.environ.get("CI", "").lower() in ("true", "1")


def run_collection_failed(c, server_binary, temp, log):
    """500 collection_failed: a collection whose MANIFEST no longer passes its crc opens failed,
    and every call on it but stats and delete answers 500."""
    C = "/v1/collections"
    data = os.path.join(temp, "data-500")
    port_file = os.path.join(temp, "port-500")
    server = start_server(server_binary, data, port_file, log)
    first = Checker(c.spec, wait_ready(port_file, server))
    first.call("500 setup: create broken", "POST", C, C, {"name": "broken", "dimension": 2}, 201)
    first.call("500 setup: upsert", "POST", "/v1/collections/{name}/points", "/v1/collections/broken/points",
               {"points": [{"id": "a", "vector": [1, 2]}]})
    first.call("500 setup: flush", "POST", "/v1/collections/{name}/flush", "/v1/collections/broken/flush")
    first.conn.close()
    stop_server(c, "500 setup", server)
    c.absorb(first)
    manifest = os.path.join(data, "collections", "broken", "MANIFEST")
    with open(manifest, "r+b") as f:
        f.seek(20)  # inside the body: the crc no longer matches
        byte = f.read(1)
        f.seek(20)
        f.write(bytes([byte[0] ^ 0x40]))
    server = start_server(server_binary, data, port_file, log)
    failed = Checker(c.spec, wait_ready(port_file, server))
    calls = [
        ("search", "POST", "/v1/collections/{name}/search", "/v1/collections/broken/search", {"vector": [1, 2]}),
        ("upsert", "POST", "/v1/collections/{name}/points", "/v1/collections/broken/points",
         {"points": [{"id": "b", "vector": [1, 2]}]}),
        ("delete points", "POST", "/v1/collections/{name}/points/delete", "/v1/collections/broken/points/delete",
         {"ids": ["a"]}),
        ("flush", "POST", "/v1/collections/{name}/flush", "/v1/collections/broken/flush", None),
        ("count", "POST", "/v1/collections/{name}/points/count", "/v1/collections/broken/points/count", None),
        ("compact", "POST", "/v1/collections/{name}/compact", "/v1/collections/broken/compact", None),
    ]
    for label, method, template, path, body in calls:
        failed.call(f"failed collection: {label}", method, template, path, body, 500, "collection_failed")
    stats = failed.call("failed collection: stats", "GET", "/v1/collections/{name}/stats",
                        "/v1/collections/broken/stats")
    failed.expect("failed collection: stats say failed and why",
                  isinstance(stats, dict) and stats.get("status") == "failed" and "MANIFEST" in stats.get("failure", ""),
                  repr(stats))
    failed.call("failed collection: delete", "DELETE", "/v1/collections/{name}", "/v1/collections/broken")
    failed.conn.close()
    stop_server(c, "failed collection", server)
    c.absorb(failed)


def run_disk_full(c, server_binary, temp, log):
    """507 insufficient_storage: the data directory on a 4 MiB tmpfs, filled up."""
    C = "/v1/collections"
    mount_point = os.path.join(temp, "tmpfs")
    os.mkdir(mount_point)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mount_point],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs at {mount_point}: {mounted.stderr.strip()}"
        if in_ci():
            c.report(False, "507 insufficient_storage", reason + " (CI=true: a skip is a failure)")
        else:
            print(f"SKIP 507 insufficient_storage: {reason} (under CI=true this fails)", flush=True)
            c.skipped_statuses.add(507)
        return
    try:
        extra = []
        probe = os.path.join(mount_point, "probe")
        with open(probe, "wb") as f:
            f.write(b"p" * 4096)
        try:
            os.close(os.open(probe, os.O_RDONLY | os.O_DIRECT))
        except OSError:
            extra = ["--io-mode", "mmap"]  # tmpfs before Linux 6.6 has no O_DIRECT
        os.remove(probe)
        port_file = os.path.join(temp, "port-507")
        server = start_server(server_binary, os.path.join(mount_point, "data"), port_file, log, extra)
        full = Checker(c.spec, wait_ready(port_file, server))
        full.call("507 setup: create", "POST", C, C, {"name": "full", "dimension": 2}, 201)
        filler = os.path.join(mount_point, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            for block in (65536, 512):
                try:
                    while os.write(fd, b"f" * block) > 0:
                        pass
                except OSError:
                    pass  # ENOSPC: full at this block size
        finally:
            os.close(fd)
        points = {"points": [{"id": f"p{i}", "vector": [float(i), 1.0], "payload": {"pad": "x" * 2000}}
                             for i in range(64)]}
        full.call("disk full: upsert", "POST", "/v1/collections/{name}/points", "/v1/collections/full/points",
                  points, 507, "insufficient_storage")
        full.call("disk full: create", "POST", C, C, {"name": "second", "dimension": 2}, 507,
                  "insufficient_storage")
        os.remove(filler)
        full.call("space again: upsert", "POST", "/v1/collections/{name}/points", "/v1/collections/full/points",
                  points)
        full.conn.close()
        stop_server(c, "disk full", server)
        c.absorb(full)
    finally:
        subprocess.run(["umount", "-l", mount_point], capture_output=True)


def check_examples(c):
    """Every example in the spec matches its own schema."""
    for template, item in c.spec.doc["paths"].items():
        for method in c.spec.methods(template):
            op = item[method.lower()]
            media = []
            if "requestBody" in op:
                media.append(("request", c.spec.resolve(op["requestBody"])))
            for status, response in op.get("responses", {}).items():
                media.append((status, c.spec.resolve(response)))
            for where, node in media:
                content = node.get("content", {}).get("application/json", {})
                if "example" in content:
                    errors = c.spec.validate(content["schema"], content["example"])
                    c.expect(f"example of {method} {template} {where} matches its schema", not errors,
                             "; ".join(errors[:3]))


def check_coverage(c):
    for template in c.spec.doc["paths"]:
        for method in c.spec.methods(template):
            seen = c.exercised.get((template, method), set())
            success = [s for s in seen if 200 <= s < 300]
            c.expect(f"coverage: {method} {template} exercised with success",
                     success, f"statuses seen: {sorted(seen)}")
    for status in (400, 404, 405, 409, 413, 500, 503, 507):
        if status in c.skipped_statuses:
            continue
        c.expect(f"coverage: status {status} provoked", status in c.statuses_seen)


def die_with_parent():
    """Runs in the child before exec: the server gets SIGKILL if this script dies (a ctest timeout)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def wait_ready(port_file, server, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    port = None
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CheckFailed(f"the server exited with status {server.returncode} during start-up")
        if port is None and os.path.exists(port_file):
            text = open(port_file, encoding="ascii").read().strip()
            if text.isdigit():
                port = int(text)
        if port is not None:
            try:
                response = Connection(port).request("GET", "/healthz")
                if response.status == 200:
                    return port
            except OSError:
                pass
        time.sleep(0.05)
    raise CheckFailed("the server did not become ready within 20 s")


def main():
    parser = argparse.ArgumentParser(description="Check puffer-server against docs/openapi.yaml.")
    parser.add_argument("--server-binary", required=True)
    parser.add_argument("--spec", required=True)
    args = parser.parse_args()

    spec = Spec(args.spec)
    temp = tempfile.mkdtemp(prefix="openapi-check-")
    server = None
    log_path = os.path.join(temp, "server.log")
    failed = True
    try:
        port_file = os.path.join(temp, "port")
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                [args.server_binary, "--data-dir", os.path.join(temp, "data"), "--bind-addr", "127.0.0.1:0",
                 "--port-file", port_file, "--log-level", "warn", "--max-body-mb", str(MAX_BODY_MB)],
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        port = wait_ready(port_file, server)
        print(f"server {args.server_binary} on 127.0.0.1:{port}, data in {temp}", flush=True)
        checker = Checker(spec, port)
        check_examples(checker)
        run_sequence(checker)
        run_shutdown(checker, server)
        with open(log_path, "ab") as log:
            run_collection_failed(checker, args.server_binary, temp, log)
            run_disk_full(checker, args.server_binary, temp, log)
        check_coverage(checker)
        failed = checker.failures > 0
        print(f"{checker.count - checker.failures} of {checker.count} checks passed", flush=True)
    except CheckFailed as e:
        print(f"FAIL {e}", flush=True)
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        if failed and os.path.exists(log_path):
            text = open(log_path, encoding="utf-8", errors="replace").read()
            if text:
                print("server log:\n" + text[-4000:], flush=True)
        shutil.rmtree(temp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
