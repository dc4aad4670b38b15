#!/usr/bin/env python3
# Checks a real puffer-server against docs/openapi.yaml. It runs a scripted sequence of requests
# over loopback that covers every path and method in the spec and the error statuses a client
# can provoke (400, 404, 405, 409, 413, 501, and 503 during a graceful stop), snapshots taken,
# downloaded, restored and deleted, then 401 and 403 (a second server with a full and a
# read-only key), 500 collection_failed (a third on a data directory whose MANIFEST was
# damaged) and 507 insufficient_storage (a fourth on a full 4 MiB tmpfs; mounting needs root:
# without it the check is skipped at a desk and fails under CI=true). Each response's status
# must be one the spec documents for that operation (and the one the script expects), and its
# body must match the spec's schema (a snapshot archive must be a tar whose first member is
# SNAPSHOT). Prints one line per check and exits 1 on any mismatch.
#
# Usage: openapi_check.py --server-binary build/apps/puffer-server --spec docs/openapi.yaml
# Needs only the Python standard library and PyYAML (python3-yaml).

import argparse
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
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

    def send(self, method, target, body=None, extra_headers=None, content_type="application/json"):
        head = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        if body is not None:
            head.append(f"Content-Type: {content_type}")
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

    def request(self, method, target, body=None, extra_headers=None, content_type="application/json"):
        self.send(method, target, body, extra_headers, content_type)
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
        self.last_response = None  # of the last call()

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
        # The rules outside the operations (the spec's description): an unknown path, a method
        # a path does not take, malformed HTTP, a body over the limit, a transfer coding the
        # server does not implement, and a missing key (checked before routing).
        rules = {404: "RouteNotFound", 405: "MethodNotAllowed", 400: "BadRequest", 401: "Unauthorized",
                 413: "PayloadTooLarge", 501: "NotImplemented"}
        if template is None:
            name = rules.get(status)
            return None if name is None else self.spec.doc["components"]["responses"].get(name)
        op = self.spec.operation(template, method)
        if op is None:
            if status in (401, 405):
                return self.spec.doc["components"]["responses"][rules[status]]
            return None
        responses = op.get("responses", {})
        return responses.get(str(status))

    def documented_statuses(self, template, method):
        if template is None:
            return [400, 401, 404, 413, 501]
        op = self.spec.operation(template, method)
        if op is None:
            return [401, 405, 413]
        return sorted(int(s) for s in op.get("responses", {}))

    def check_request_schema(self, label, template, method, body, valid):
        op = self.spec.operation(template, method)
        request_body = op.get("requestBody") if op else None
        if request_body is None:
            return
        content = self.spec.resolve(request_body)["content"]
        if "application/json" not in content:
            self.report(False, f"{label} [request matches the spec]", "the operation takes no JSON body")
            return
        schema = content["application/json"]["schema"]
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
        content = self.spec.resolve(resp).get("content", {}) if resp is not None else {}
        text = "text/plain" in content
        tar = "application/x-tar" in content
        payload = None
        if tar:
            # A snapshot archive: its Content-Type, length and name, and a tar whose first
            # member is SNAPSHOT; the caller checks more of it.
            if response.headers.get("content-type") != "application/x-tar":
                problems.append(f"Content-Type {response.headers.get('content-type')!r}, expected application/x-tar")
            length = response.headers.get("content-length")
            if length != str(len(response.body)):
                problems.append(f"Content-Length {length!r}, body of {len(response.body)} bytes")
            if "content-disposition" not in response.headers:
                problems.append("no Content-Disposition")
            try:
                with tarfile.open(fileobj=io.BytesIO(response.body), mode="r:") as archive:
                    first = archive.next()
                    if first is None or first.name != "SNAPSHOT":
                        problems.append(f"first tar member {first.name if first else None!r}, expected SNAPSHOT")
            except tarfile.TarError as e:
                problems.append(f"body is not a tar archive ({e})")
        elif text:
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
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                problems.append(f"the spec has no application/json schema for {status}")
            else:
                problems.extend(self.spec.validate(schema, payload)[:5])
        if resp is not None and (payload is not None or text or tar):
            for name, header in self.spec.resolve(resp).get("headers", {}).items():
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
             request_valid=None, raw_body=None, conn=None, headers=None, content_type="application/json"):
        """One request. body: a JSON value (serialized) or None; raw_body: bytes sent as is;
        headers: more request headers. Returns the JSON body (None for another answer)."""
        data = raw_body
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
        if request_valid is not None and body is not None:
            self.check_request_schema(label, template, method, body, request_valid)
        connection = conn or self.conn
        try:
            response = connection.request(method, path, data, headers, content_type)
        except (OSError, CheckFailed) as e:
            connection.close()
            self.report(False, f"{label}: {method} {path}", f"request failed: {e}")
            return None
        self.last_response = response
        return self.validate_response(label, template, method, response, expect, code)


# ---------------------------------------------------------------------------------------------
# Reading points back, payload patches and deletes by filter.

POINT = "/v1/collections/{name}/points/{id}"
GET_POINTS = "/v1/collections/{name}/points/get"
SCROLL = "/v1/collections/{name}/points/scroll"
PATCH = "/v1/collections/{name}/points/payload"
DELETE_POINTS = "/v1/collections/{name}/points/delete"
COUNT_POINTS = "/v1/collections/{name}/points/count"


def scroll_all(c, label, collection, body, max_pages=1000):
    """Pages through a scroll; returns (every point answered, pages) or None when a page failed."""
    path = f"/v1/collections/{collection}/points/scroll"
    points = []
    cursor = None
    for page in range(max_pages):
        request = dict(body)
        if cursor is not None:
            request["cursor"] = cursor
        answer = c.call(f"{label}: page {page}", "POST", SCROLL, path, request, request_valid=True)
        if not isinstance(answer, dict) or not isinstance(answer.get("points"), list):
            return None
        points.extend(answer["points"])
        cursor = answer.get("next_cursor")
        if cursor is None:
            return points, page + 1
        if not answer["points"] or answer["points"][-1].get("id") != cursor:
            c.report(False, f"{label}: next_cursor is the page's last id", repr(answer)[:200])
            return None
    c.report(False, f"{label}: the scroll ends", f"still going after {max_pages} pages")
    return None


def run_point_reads(c):
    """GET .../points/{id}, POST .../points/get and .../points/scroll on a collection of their own."""
    C = "/v1/collections"
    R = "/v1/collections/reads"
    c.call("create reads", "POST", C, C, {"name": "reads", "dimension": 2}, 201, request_valid=True)
    stored = [
        {"id": "a", "vector": [1.5, -2], "payload": {"color": "red", "n": 1, "tags": ["x", "y"]}},
        {"id": "b", "vector": [0, 1], "payload": {"color": "blue", "n": 2}},
        {"id": "c", "vector": [3, 4]},
        {"id": "count", "vector": [1, 1], "payload": {"color": "red"}},
        {"id": "a/b c", "vector": [2, 2], "payload": {"n": 5}},
        {"id": "\u00fc", "vector": [-1, 0]},
        {"id": 10, "vector": [0.25, 0.5], "payload": {"color": "green", "n": 3}},
        {"id": "Z", "vector": [5, 5], "payload": {"color": "blue"}},
    ]
    c.call("upsert the points to read", "POST", "/v1/collections/{name}/points", R + "/points",
           {"points": stored}, request_valid=True)
    by_id = {str(p["id"]): p for p in stored}
    ids = sorted(by_id)  # byte order of UTF-8 is code point order

    # One point by id.
    got = c.call("get a point", "GET", POINT, R + "/points/a")
    c.expect("get a point: id and payload, no vector",
             got == {"id": "a", "payload": {"color": "red", "n": 1, "tags": ["x", "y"]}}, repr(got))
    got = c.call("get a point with its vector", "GET", POINT, R + "/points/a?include_vector=true")
    c.expect("get a point: the vector as stored", isinstance(got, dict) and got.get("vector") == [1.5, -2]
             and got.get("payload", {}).get("n") == 1, repr(got))
    got = c.call("get a point without its payload", "GET", POINT,
                 R + "/points/a?include_payload=false&include_vector=1")
    c.expect("get a point: no payload key when not asked", got == {"id": "a", "vector": [1.5, -2]}, repr(got))
    got = c.call("get a point without a payload", "GET", POINT, R + "/points/c")
    c.expect("get a point: payload null when it has none", got == {"id": "c", "payload": None}, repr(got))
    got = c.call("get a percent-encoded id", "GET", POINT, R + "/points/a%2Fb%20c")
    c.expect("get a percent-encoded id: decoded", got == {"id": "a/b c", "payload": {"n": 5}}, repr(got))
    got = c.call("get a UTF-8 id", "GET", POINT, R + "/points/%C3%BC")
    c.expect("get a UTF-8 id: decoded", got == {"id": "\u00fc", "payload": None}, repr(got))
    got = c.call("get an integer id", "GET", POINT, R + "/points/10")
    c.expect("get an integer id: its decimal string", isinstance(got, dict) and got.get("id") == "10", repr(got))
    c.call("get a point: unknown id", "GET", POINT, R + "/points/zz", expect=404, code="not_found")
    c.call("get a point: unknown collection", "GET", POINT, "/v1/collections/nope/points/a", expect=404,
           code="not_found")
    c.call("get a point: bad collection name", "GET", POINT, "/v1/collections/bad.name/points/a", expect=400,
           code="invalid_argument")
    c.call("get a point: include_vector=yes", "GET", POINT, R + "/points/a?include_vector=yes", expect=400,
           code="invalid_argument")
    c.call("get a point: include_payload without a value", "GET", POINT, R + "/points/a?include_payload",
           expect=400, code="invalid_argument")
    c.call("get a point: malformed escape", "GET", POINT, R + "/points/%ZZ", expect=400, code="invalid_argument")
    c.call("get a point: id of 257 bytes", "GET", POINT, R + "/points/" + "x" * 257, expect=400,
           code="invalid_argument")
    c.call("get a point: id of 256 bytes", "GET", POINT, R + "/points/" + "x" * 256, expect=404, code="not_found")
    # A literal segment wins over the id: GET .../points/count is the count route (POST only).
    try:
        response = c.conn.request("GET", R + "/points/count")
        c.validate_response("a literal segment is not an id", POINT, "GET", response, 405, "method_not_allowed")
        c.expect("GET .../points/count: Allow is POST", response.headers.get("allow") == "POST",
                 repr(response.headers.get("allow")))
    except (OSError, CheckFailed) as e:
        c.conn.close()
        c.report(False, "a literal segment is not an id", f"request failed: {e}")
    got = c.call("the point 'count' by POST .../points/get", "POST", GET_POINTS, R + "/points/get",
                 {"ids": ["count"]}, request_valid=True)
    c.expect("the point 'count' is read with POST .../points/get",
             got == {"points": [{"id": "count", "payload": {"color": "red"}}], "missing": []}, repr(got))

    # Points by id.
    got = c.call("get points", "POST", GET_POINTS, R + "/points/get",
                 {"ids": ["b", "zz", "a", 10, "b", "count", "yy"]}, request_valid=True)
    if isinstance(got, dict):
        c.expect("get points: found in the order asked, duplicates once",
                 [p.get("id") for p in got.get("points", [])] == ["b", "a", "10", "count"], repr(got))
        c.expect("get points: missing ids in order", got.get("missing") == ["zz", "yy"], repr(got))
        c.expect("get points: payloads, no vectors",
                 [p.get("payload") for p in got.get("points", [])]
                 == [by_id[i].get("payload") for i in ["b", "a", "10", "count"]]
                 and all("vector" not in p for p in got.get("points", [])), repr(got))
    got = c.call("get points with vectors, without payloads", "POST", GET_POINTS, R + "/points/get",
                 {"ids": ["a", "c"], "include_payload": False, "include_vector": True}, request_valid=True)
    c.expect("get points: vectors only", isinstance(got, dict) and got.get("points") ==
             [{"id": "a", "vector": [1.5, -2]}, {"id": "c", "vector": [3, 4]}], repr(got))
    got = c.call("get points with a field list", "POST", GET_POINTS, R + "/points/get",
                 {"ids": ["a", "c", "b"], "include_payload": ["n", "tags", "nope"]}, request_valid=True)
    c.expect("get points: only the fields asked; null without a payload",
             isinstance(got, dict) and [p.get("payload") for p in got.get("points", [])]
             == [{"n": 1, "tags": ["x", "y"]}, None, {"n": 2}], repr(got))
    got = c.call("get points: none found", "POST", GET_POINTS, R + "/points/get", {"ids": ["zz"]},
                 request_valid=True)
    c.expect("get points: none found", got == {"points": [], "missing": ["zz"]}, repr(got))
    c.call("get points: null options", "POST", GET_POINTS, R + "/points/get",
           {"ids": ["a"], "include_payload": None, "include_vector": None}, request_valid=True)
    c.call("get points: 10000 ids", "POST", GET_POINTS, R + "/points/get",
           {"ids": list(range(10000))}, request_valid=True)
    bad_gets = [
        ("get points: no ids", {}, False),
        ("get points: empty ids", {"ids": []}, False),
        ("get points: ids not an array", {"ids": "a"}, False),
        ("get points: 10001 ids", {"ids": list(range(10001))}, False),
        ("get points: negative id", {"ids": [-1]}, False),
        ("get points: id of 257 bytes", {"ids": ["x" * 257]}, False),
        ("get points: include_payload a string", {"ids": ["a"], "include_payload": "n"}, False),
        ("get points: include_payload [1]", {"ids": ["a"], "include_payload": [1]}, False),
        ("get points: include_payload [\"\"]", {"ids": ["a"], "include_payload": [""]}, False),
        ("get points: include_vector 1", {"ids": ["a"], "include_vector": 1}, False),
        ("get points: unknown field", {"ids": ["a"], "filter": {"exists": "n"}}, False),
    ]
    for label, body, schema_ok in bad_gets:
        c.call(label, "POST", GET_POINTS, R + "/points/get", body, 400, "invalid_argument", request_valid=schema_ok)
    c.call("get points: empty body", "POST", GET_POINTS, R + "/points/get", raw_body=b"", expect=400,
           code="invalid_argument")
    c.call("get points: unknown collection", "POST", GET_POINTS, "/v1/collections/nope/points/get", {"ids": ["a"]},
           404, "not_found", request_valid=True)

    # Scroll.
    page = c.call("scroll: empty body", "POST", SCROLL, R + "/points/scroll", raw_body=b"")
    if isinstance(page, dict):
        c.expect("scroll: every point in byte order of the ids, one page",
                 [p.get("id") for p in page.get("points", [])] == ids and page.get("next_cursor") is None,
                 repr(page))
        c.expect("scroll: payloads by default, no vectors",
                 all(p.get("payload") == by_id[p["id"]].get("payload") and "vector" not in p
                     for p in page.get("points", [])), repr(page))
    page = c.call("scroll: first page of 3", "POST", SCROLL, R + "/points/scroll", {"limit": 3}, request_valid=True)
    c.expect("scroll: a page of 3, next_cursor its last id", isinstance(page, dict)
             and [p.get("id") for p in page.get("points", [])] == ids[:3] and page.get("next_cursor") == ids[2],
             repr(page))
    walked = scroll_all(c, "scroll with limit 1", "reads", {"limit": 1, "include_vector": True})
    if walked is not None:
        points, pages = walked
        c.expect("scroll with limit 1: every point exactly once, in id order",
                 [p.get("id") for p in points] == ids, repr([p.get("id") for p in points]))
        c.expect("scroll with limit 1: one page per point", pages == len(ids), f"{pages} pages")
        c.expect("scroll with limit 1: vectors as stored",
                 all(p.get("vector") == by_id[p["id"]]["vector"] for p in points), repr(points)[:300])
    walked = scroll_all(c, "scroll with a filter", "reads",
                        {"filter": {"eq": ["color", "red"]}, "limit": 1, "include_payload": ["n"]})
    if walked is not None:
        c.expect("scroll with a filter: only matching points, only the fields asked",
                 walked[0] == [{"id": "a", "payload": {"n": 1}}, {"id": "count", "payload": {}}], repr(walked[0]))
    page = c.call("scroll: the page after the last id", "POST", SCROLL, R + "/points/scroll",
                  {"cursor": ids[-1], "include_payload": False}, request_valid=True)
    c.expect("scroll: past the end is empty and final", page == {"points": [], "next_cursor": None}, repr(page))
    page = c.call("scroll: a cursor that is no id", "POST", SCROLL, R + "/points/scroll",
                  {"cursor": "b0", "include_payload": False}, request_valid=True)
    c.expect("scroll: a cursor is a position, not necessarily an id",
             isinstance(page, dict) and [p.get("id") for p in page.get("points", [])] == [i for i in ids if i > "b0"],
             repr(page))
    c.call("scroll: null options", "POST", SCROLL, R + "/points/scroll",
           {"filter": None, "limit": None, "cursor": None, "include_payload": None, "include_vector": None},
           request_valid=True)
    bad_scrolls = [
        ("scroll: limit 0", {"limit": 0}, False),
        ("scroll: limit 10001", {"limit": 10001}, False),
        ("scroll: limit 1.5", {"limit": 1.5}, False),
        ("scroll: cursor a number", {"cursor": 5}, False),
        ("scroll: empty cursor", {"cursor": ""}, False),
        ("scroll: cursor of 257 bytes", {"cursor": "x" * 257}, False),
        ("scroll: include_payload a number", {"include_payload": 1}, False),
        ("scroll: include_vector a string", {"include_vector": "true"}, False),
        ("scroll: unknown field", {"after": "a"}, False),
        ("scroll: a malformed filter", {"filter": {"eq": ["color"]}}, True),
    ]
    for label, body, schema_ok in bad_scrolls:
        c.call(label, "POST", SCROLL, R + "/points/scroll", body, 400, "invalid_argument", request_valid=schema_ok)
    c.call("scroll: body not an object", "POST", SCROLL, R + "/points/scroll", raw_body=b"[]", expect=400,
           code="invalid_argument")
    c.call("scroll: unknown collection", "POST", SCROLL, "/v1/collections/nope/points/scroll", {}, 404,
           "not_found", request_valid=True)

    # A scroll while the collection changes: every point live throughout comes exactly once, and
    # points created, deleted or replaced meanwhile at most once.
    seen = []
    cursor = None
    changed = False
    for page_number in range(100):
        body = {"limit": 2, "include_payload": False}
        if cursor is not None:
            body["cursor"] = cursor
        page = c.call(f"scroll while writing: page {page_number}", "POST", SCROLL, R + "/points/scroll", body,
                      request_valid=True)
        if not isinstance(page, dict):
            break
        seen.extend(p.get("id") for p in page.get("points", []))
        cursor = page.get("next_cursor")
        if not changed:
            changed = True
            # Before the cursor and after it: new points, a deleted one, replaced ones.
            c.call("scroll while writing: upsert", "POST", "/v1/collections/{name}/points", R + "/points",
                   {"points": [{"id": "0new", "vector": [9, 9]}, {"id": "zznew", "vector": [9, 9]},
                               {"id": "b", "vector": [0, 2], "payload": {"color": "blue", "n": 2}},
                               {"id": ids[0], "vector": [0, 0]}]}, request_valid=True)
            c.call("scroll while writing: delete", "POST", DELETE_POINTS, R + "/points/delete", {"ids": ["count"]},
                   request_valid=True)
        if cursor is None:
            break
    stable = [i for i in ids if i not in ("b", "count", ids[0])]
    c.expect("scroll while writing: every point live throughout exactly once",
             all(seen.count(i) == 1 for i in stable), repr(seen))
    c.expect("scroll while writing: no point twice, in id order",
             len(seen) == len(set(seen)) and seen == sorted(seen), repr(seen))
    c.expect("scroll while writing: a point created after the cursor is found", "zznew" in seen, repr(seen))
    c.expect("scroll while writing: a point created before the cursor is not", "0new" not in seen, repr(seen))
    c.call("scroll while writing: restore", "POST", "/v1/collections/{name}/points", R + "/points",
           {"points": [p for p in stored if str(p["id"]) in ("count", ids[0])]}, request_valid=True)
    c.call("scroll while writing: clean up", "POST", DELETE_POINTS, R + "/points/delete",
           {"ids": ["0new", "zznew"]}, request_valid=True)

    # Search answers a field list of the payloads too, alone and in a batch.
    SEARCH = "/v1/collections/{name}/search"
    found = c.call("search with a field list", "POST", SEARCH, R + "/search",
                   {"vector": [1.5, -2], "top_k": 3, "include_payload": ["color"]}, request_valid=True)
    if isinstance(found, dict) and isinstance(found.get("results"), list):
        hits = found["results"]
        c.expect("search with a field list: only those fields, null without a payload",
                 bool(hits) and hits[0] == {"id": "a", "score": 0, "payload": {"color": "red"}}
                 and all(h.get("payload") is None or set(h["payload"]) <= {"color"} for h in hits), repr(hits))
    batch = c.call("batch search with field lists", "POST", "/v1/collections/{name}/search/batch",
                   R + "/search/batch",
                   {"searches": [{"vector": [1.5, -2], "top_k": 1, "include_payload": ["n"]},
                                 {"vector": [1.5, -2], "top_k": 1, "include_payload": True},
                                 {"vector": [1.5, -2], "top_k": 1}]}, request_valid=True)
    if isinstance(batch, dict) and isinstance(batch.get("results"), list) and len(batch["results"]) == 3:
        c.expect("batch search: each search with its own payload selection",
                 [r[0].get("payload", "absent") if r else None for r in batch["results"]]
                 == [{"n": 1}, by_id["a"]["payload"], "absent"], repr(batch["results"]))
    c.call("search: include_payload [1]", "POST", SEARCH, R + "/search",
           {"vector": [1, 1], "include_payload": [1]}, 400, "invalid_argument", request_valid=False)
    c.call("batch: include_payload a string", "POST", "/v1/collections/{name}/search/batch", R + "/search/batch",
           {"searches": [{"vector": [1, 1], "include_payload": "n"}]}, 400, "invalid_argument", request_valid=False)


def run_point_writes(c):
    """Payload patches and deletes by filter, on the collection run_point_reads made."""
    R = "/v1/collections/reads"
    before = c.call("patch: the points before", "POST", GET_POINTS, R + "/points/get",
                    {"ids": ["a", "b", "c"], "include_vector": True}, request_valid=True)
    updated = c.call("patch: merge by ids", "POST", PATCH, R + "/points/payload",
                     {"ids": ["a", "c", "zz", "a"], "payload": {"size": 3, "n": None, "tags": ["z"]}},
                     request_valid=True)
    c.expect("patch: updated counts the live points chosen", updated == {"updated": 2}, repr(updated))
    after = c.call("patch: the points after", "POST", GET_POINTS, R + "/points/get",
                   {"ids": ["a", "b", "c"], "include_vector": True}, request_valid=True)
    if isinstance(after, dict) and isinstance(before, dict):
        payloads = [p.get("payload") for p in after.get("points", [])]
        c.expect("patch: merged (fields set, null removed, others kept); a point without a payload gets one",
                 payloads == [{"color": "red", "size": 3, "tags": ["z"]}, {"color": "blue", "n": 2},
                              {"size": 3, "tags": ["z"]}], repr(payloads))
        c.expect("patch: vectors kept", [p.get("vector") for p in after.get("points", [])]
                 == [p.get("vector") for p in before.get("points", [])], repr(after))
    updated = c.call("patch: replace by filter", "POST", PATCH, R + "/points/payload",
                     {"filter": {"eq": ["color", "blue"]}, "payload": {"shade": "dark", "gone": None},
                      "mode": "replace"}, request_valid=True)
    c.expect("patch: the filter chose the blue points", updated == {"updated": 2}, repr(updated))
    got = c.call("patch: replaced payloads", "POST", GET_POINTS, R + "/points/get", {"ids": ["b", "Z"]},
                 request_valid=True)
    c.expect("patch: replace makes the payload the object given",
             isinstance(got, dict) and [p.get("payload") for p in got.get("points", [])]
             == [{"shade": "dark"}, {"shade": "dark"}], repr(got))
    counted = c.call("patch: count by a patched field", "POST", COUNT_POINTS, R + "/points/count",
                     {"filter": {"eq": ["shade", "dark"]}}, request_valid=True)
    c.expect("patch: the filter index sees the patch", counted == {"count": 2}, repr(counted))
    counted = c.call("patch: count by a replaced field", "POST", COUNT_POINTS, R + "/points/count",
                     {"filter": {"eq": ["color", "blue"]}}, request_valid=True)
    c.expect("patch: replaced fields are gone", counted == {"count": 0}, repr(counted))
    updated = c.call("patch: remove every field", "POST", PATCH, R + "/points/payload",
                     {"ids": ["Z"], "payload": {"shade": None}, "mode": "merge"}, request_valid=True)
    c.expect("patch: remove every field of one point", updated == {"updated": 1}, repr(updated))
    got = c.call("patch: a payload emptied", "GET", POINT, R + "/points/Z")
    c.expect("patch: a payload left empty is none", got == {"id": "Z", "payload": None}, repr(got))
    updated = c.call("patch: ids not found", "POST", PATCH, R + "/points/payload",
                     {"ids": ["zz", "yy"], "payload": {"x": 1}}, request_valid=True)
    c.expect("patch: ids not found are skipped", updated == {"updated": 0}, repr(updated))
    updated = c.call("patch: a filter matching nothing", "POST", PATCH, R + "/points/payload",
                     {"filter": {"eq": ["color", "none"]}, "payload": {"x": 1}}, request_valid=True)
    c.expect("patch: a filter matching nothing patches nothing", updated == {"updated": 0}, repr(updated))
    c.call("patch: mode null", "POST", PATCH, R + "/points/payload",
           {"ids": ["c"], "payload": {"size": 4}, "mode": None}, request_valid=True)
    bad_patches = [
        ("patch: ids and filter", {"ids": ["a"], "filter": {"exists": "n"}, "payload": {"x": 1}}, False),
        ("patch: neither ids nor filter", {"payload": {"x": 1}}, False),
        ("patch: no payload", {"ids": ["a"]}, False),
        ("patch: payload not an object", {"ids": ["a"], "payload": [1]}, False),
        ("patch: payload null", {"ids": ["a"], "payload": None}, False),
        ("patch: unknown mode", {"ids": ["a"], "payload": {"x": 1}, "mode": "upsert"}, False),
        ("patch: filter null", {"filter": None, "payload": {"x": 1}}, False),
        ("patch: a malformed filter", {"filter": {"eq": ["color"]}, "payload": {"x": 1}}, True),
        ("patch: empty ids", {"ids": [], "payload": {"x": 1}}, False),
        ("patch: negative id", {"ids": [-1], "payload": {"x": 1}}, False),
        ("patch: unknown field", {"ids": ["a"], "payload": {"x": 1}, "merge": True}, False),
    ]
    for label, body, schema_ok in bad_patches:
        c.call(label, "POST", PATCH, R + "/points/payload", body, 400, "invalid_argument", request_valid=schema_ok)
    c.call("patch: a number beyond a double", "POST", PATCH, R + "/points/payload",
           raw_body=b'{"ids":["a"],"payload":{"x":1e400}}', expect=400, code="invalid_argument")
    c.call("patch: invalid JSON", "POST", PATCH, R + "/points/payload", raw_body=b'{"ids":["a"],', expect=400,
           code="invalid_argument")
    c.call("patch: unknown collection", "POST", PATCH, "/v1/collections/nope/points/payload",
           {"ids": ["a"], "payload": {"x": 1}}, 404, "not_found", request_valid=True)
    c.call("patch: bad collection name", "POST", PATCH, "/v1/collections/bad.name/points/payload",
           {"ids": ["a"], "payload": {"x": 1}}, 400, "invalid_argument")

    # Delete by filter.
    counted = c.call("delete by filter: count before", "POST", COUNT_POINTS, R + "/points/count")
    total = counted.get("count") if isinstance(counted, dict) else None
    deleted = c.call("delete by filter", "POST", DELETE_POINTS, R + "/points/delete",
                     {"filter": {"range": ["n", {"gte": 3}]}}, request_valid=True)
    c.expect("delete by filter: the matching points", deleted == {"deleted": 2}, repr(deleted))
    counted = c.call("delete by filter: count after", "POST", COUNT_POINTS, R + "/points/count")
    c.expect("delete by filter: the count dropped by as many",
             isinstance(counted, dict) and total is not None and counted.get("count") == total - 2, repr(counted))
    got = c.call("delete by filter: the points are gone", "POST", GET_POINTS, R + "/points/get",
                 {"ids": ["10", "a/b c", "a"], "include_payload": False}, request_valid=True)
    c.expect("delete by filter: deleted ids are missing",
             isinstance(got, dict) and got.get("missing") == ["10", "a/b c"], repr(got))
    deleted = c.call("delete by filter again", "POST", DELETE_POINTS, R + "/points/delete",
                     {"filter": {"range": ["n", {"gte": 3}]}}, request_valid=True)
    c.expect("delete by filter again: nothing left to delete", deleted == {"deleted": 0}, repr(deleted))
    bad_deletes = [
        ("delete: ids and filter", {"ids": ["a"], "filter": {"exists": "n"}}, False),
        ("delete: filter null", {"filter": None}, False),
        ("delete: a malformed filter", {"filter": {"range": ["n", {"gte": 1, "gt": 2}]}}, True),
        ("delete: filter not an object", {"filter": "n"}, False),
    ]
    for label, body, schema_ok in bad_deletes:
        c.call(label, "POST", DELETE_POINTS, R + "/points/delete", body, 400, "invalid_argument",
               request_valid=schema_ok)
    c.call("delete by filter: unknown collection", "POST", DELETE_POINTS, "/v1/collections/nope/points/delete",
           {"filter": {"exists": "n"}}, 404, "not_found", request_valid=True)
    deleted = c.call("delete by filter: every point", "POST", DELETE_POINTS, R + "/points/delete",
                     {"filter": {"exists": "id"}}, request_valid=True)
    c.expect("delete by filter: every point counted", isinstance(counted, dict)
             and deleted == {"deleted": counted.get("count")}, repr(deleted))
    counted = c.call("delete by filter: none left", "POST", COUNT_POINTS, R + "/points/count")
    c.expect("delete by filter: the collection is empty", counted == {"count": 0}, repr(counted))
    page = c.call("scroll an empty collection", "POST", SCROLL, R + "/points/scroll", {}, request_valid=True)
    c.expect("scroll an empty collection: one empty, final page", page == {"points": [], "next_cursor": None},
             repr(page))
    c.call("delete reads", "DELETE", "/v1/collections/{name}", R)


def run_point_limits(c):
    """The scroll's byte budget per page, and the 100000-point bound of a patch."""
    C = "/v1/collections"
    B = "/v1/collections/budget"
    # 40 payloads of 900 KiB: 36 MiB, more than the default 32 MiB answer budget.
    c.call("create budget", "POST", C, C, {"name": "budget", "dimension": 2}, 201)
    pad = "x" * (900 * 1024)
    rows = 40
    for i in range(rows):
        c.call(f"upsert budget payload {i}", "POST", "/v1/collections/{name}/points", B + "/points",
               {"points": [{"id": f"p{i:02d}", "vector": [float(i), 1.0], "payload": {"s": pad}}]})
    page = c.call("scroll over the answer budget", "POST", SCROLL, B + "/points/scroll", {"limit": 100})
    if isinstance(page, dict) and isinstance(page.get("points"), list):
        n = len(page["points"])
        c.expect("scroll over the answer budget: the page stops early, with a cursor",
                 0 < n < rows and page.get("next_cursor") == f"p{n - 1:02d}",
                 f"{n} points, {page.get('next_cursor')!r}")
    walked = scroll_all(c, "scroll over the answer budget", "budget", {"limit": 100})
    if walked is not None:
        c.expect("scroll over the answer budget: every point exactly once over the pages",
                 [p.get("id") for p in walked[0]] == [f"p{i:02d}" for i in range(rows)] and walked[1] > 1,
                 f"{walked[1]} pages: {[p.get('id') for p in walked[0]]!r}")
    page = c.call("scroll without payloads", "POST", SCROLL, B + "/points/scroll",
                  {"limit": 100, "include_payload": False}, request_valid=True)
    c.expect("scroll without payloads: one page", isinstance(page, dict) and len(page.get("points", [])) == rows
             and page.get("next_cursor") is None, repr(page)[:200])
    c.call("delete budget", "DELETE", "/v1/collections/{name}", B)

    # A filter may choose at most 100000 points for one patch; a delete by filter has no bound.
    M = "/v1/collections/many"
    c.call("create many", "POST", C, C, {"name": "many", "dimension": 1}, 201)
    total = 100001
    step = 25001
    for first in range(0, total, step):
        points = [{"id": i, "vector": [i]} for i in range(first, min(total, first + step))]
        c.call(f"upsert many from {first}", "POST", "/v1/collections/{name}/points", M + "/points",
               {"points": points})
    c.call("flush many", "POST", "/v1/collections/{name}/flush", M + "/flush")
    c.call("patch: a filter matching 100001 points", "POST", PATCH, M + "/points/payload",
           {"filter": {"exists": "id"}, "payload": {"x": 1}}, 400, "invalid_argument", request_valid=True)
    c.call("patch: 100001 ids", "POST", PATCH, M + "/points/payload",
           {"ids": list(range(total)), "payload": {"x": 1}}, 400, "invalid_argument", request_valid=False)
    updated = c.call("patch: 100000 ids", "POST", PATCH, M + "/points/payload",
                     {"ids": list(range(total - 1)), "payload": {"x": 1}}, request_valid=True)
    c.expect("patch: 100000 ids patched", updated == {"updated": total - 1}, repr(updated))
    counted = c.call("patch: count the patched", "POST", COUNT_POINTS, M + "/points/count",
                     {"filter": {"eq": ["x", 1]}}, request_valid=True)
    c.expect("patch: every one of them", counted == {"count": total - 1}, repr(counted))
    deleted = c.call("delete by filter: 100001 points", "POST", DELETE_POINTS, M + "/points/delete",
                     {"filter": {"exists": "id"}}, request_valid=True)
    c.expect("delete by filter: no bound on the points", deleted == {"deleted": total}, repr(deleted))
    c.call("delete many", "DELETE", "/v1/collections/{name}", M)


# ---------------------------------------------------------------------------------------------
# Snapshots: take, list, download, restore, delete.

SNAPSHOTS = "/v1/collections/{name}/snapshots"
SNAPSHOT = "/v1/collections/{name}/snapshots/{id}"
RESTORE = "/v1/collections/{name}/snapshots/restore"


def send_chunked(conn, method, target, data, content_type, chunk_bytes=65536):
    """A request whose body is sent with Transfer-Encoding: chunked."""
    head = (f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{conn.port}\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    chunks = [b"%x\r\n" % len(data[i:i + chunk_bytes]) + data[i:i + chunk_bytes] + b"\r\n"
              for i in range(0, len(data), chunk_bytes)]
    conn.send_raw(head + b"".join(chunks) + b"0\r\n\r\n")
    return conn.read_response()


def tar_members(body):
    """The member names of a tar, and the text of its SNAPSHOT; None when it is no tar."""
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as archive:
            names = archive.getnames()
            descriptor = archive.extractfile("SNAPSHOT").read().decode("utf-8", "replace")
            return names, descriptor
    except (tarfile.TarError, KeyError, AttributeError):
        return None


def download(c, label, collection, snapshot_id, **kwargs):
    """GET .../snapshots/{id}; returns the archive's bytes (None unless it was answered)."""
    c.call(label, "GET", SNAPSHOT, f"/v1/collections/{collection}/snapshots/{snapshot_id}", **kwargs)
    response = c.last_response
    return response.body if response is not None and response.status == 200 else None


def count_of(c, label, collection, **kwargs):
    counted = c.call(label, "POST", COUNT_POINTS, f"/v1/collections/{collection}/points/count", **kwargs)
    return counted.get("count") if isinstance(counted, dict) else None


def run_snapshots(c):
    C = "/v1/collections"
    S = "/v1/collections/snap"
    c.call("create snap", "POST", C, C, {"name": "snap", "dimension": 2, "metric": "cosine"}, 201)
    # A segment and WAL records, so that the snapshot holds both.
    c.call("snap: upsert to flush", "POST", "/v1/collections/{name}/points", S + "/points",
           {"points": [{"id": i, "vector": [1.0 + i, 2.0], "payload": {"n": i}} for i in range(40)]})
    c.call("snap: flush", "POST", "/v1/collections/{name}/flush", S + "/flush")
    c.call("snap: upsert to the WAL", "POST", "/v1/collections/{name}/points", S + "/points",
           {"points": [{"id": f"w{i}", "vector": [2.0, 1.0 + i], "payload": {"tag": "wal"}} for i in range(10)]})
    small_count = count_of(c, "snap: count", "snap")
    small = c.call("snapshot", "POST", SNAPSHOTS, S + "/snapshots", raw_body=b"", expect=201)
    small_id = small.get("id") if isinstance(small, dict) else None
    c.expect("snapshot: its points are the collection's", isinstance(small, dict) and small_count == 50
             and small.get("points") == small_count and small.get("files", 0) >= 3, repr(small))
    # Over --max-body-mb: an archive that only an upload may carry.
    for i in range(4):
        c.call(f"snap: upsert a large payload {i}", "POST", "/v1/collections/{name}/points", S + "/points",
               {"points": [{"id": f"big{i}", "vector": [3.0, 1.0 + i], "payload": {"pad": "p" * (300 * 1024)}}]})
    large_count = count_of(c, "snap: count again", "snap")
    large = c.call("snapshot with a body", "POST", SNAPSHOTS, S + "/snapshots", {"ignored": True},
                   expect=201)
    large_id = large.get("id") if isinstance(large, dict) else None
    c.expect("snapshot: over the body limit, a later id", isinstance(large, dict)
             and large.get("points") == large_count == 54 and large.get("bytes", 0) > MAX_BODY_MB << 20
             and large_id != small_id, repr(large))
    if small_id is None or large_id is None:
        c.report(False, "snapshots", "no snapshot to go on with")
        return
    c.call("snapshot: unknown collection", "POST", SNAPSHOTS, "/v1/collections/nope/snapshots", expect=404,
           code="not_found")
    c.call("snapshot: bad collection name", "POST", SNAPSHOTS, "/v1/collections/bad.name/snapshots", expect=400,
           code="invalid_argument")

    listed = c.call("list snapshots", "GET", SNAPSHOTS, S + "/snapshots")
    c.expect("list snapshots: both, oldest first, as they were answered",
             listed == {"snapshots": [small, large]}, repr(listed))
    c.call("list snapshots: unknown collection", "GET", SNAPSHOTS, "/v1/collections/nope/snapshots", expect=404,
           code="not_found")

    archive = download(c, "download a snapshot", "snap", small_id)
    response = c.last_response
    if archive is not None:
        c.expect("download: named after the collection and the snapshot",
                 response.headers.get("content-disposition") == f'attachment; filename="snap-{small_id}.tar"',
                 repr(response.headers.get("content-disposition")))
        members = tar_members(archive)
        c.expect("download: SNAPSHOT, the MANIFEST, segments and WAL, then CHECKSUMS", members is not None
                 and members[0][0] == "SNAPSHOT" and members[0][-1] == "CHECKSUMS" and "MANIFEST" in members[0]
                 and any(n.startswith("segments/") for n in members[0])
                 and any(n.startswith("wal/") for n in members[0]), repr(members and members[0]))
        c.expect("download: SNAPSHOT names the collection and the id", members is not None
                 and "\ncollection snap\n" in members[1] and f"\nid {small_id}\n" in members[1],
                 repr(members and members[1]))
    large_archive = download(c, "download a snapshot over the body limit", "snap", large_id)
    c.expect("download: the archive over the body limit is whole",
             large_archive is not None and len(large_archive) > large["bytes"], repr(len(large_archive or b"")))
    c.call("download: unknown id", "GET", SNAPSHOT, S + "/snapshots/20000101-000000-000", expect=404,
           code="not_found")
    c.call("download: unknown collection", "GET", SNAPSHOT, f"/v1/collections/nope/snapshots/{small_id}",
           expect=404, code="not_found")
    c.call("download: an id that is a path", "GET", SNAPSHOT, S + "/snapshots/..%2F..%2Fcollections%2Fsnap",
           expect=404, code="not_found")
    c.call("download: id of 257 bytes", "GET", SNAPSHOT, S + "/snapshots/" + "x" * 257, expect=400,
           code="invalid_argument")
    c.call("download: bad collection name", "GET", SNAPSHOT, f"/v1/collections/bad.name/snapshots/{small_id}",
           expect=400, code="invalid_argument")

    if archive is None or large_archive is None:
        c.report(False, "restore", "no archive to restore")
        return
    # Restore under new names: every point back.
    restored = c.call("restore under a new name", "POST", RESTORE, "/v1/collections/snap_a/snapshots/restore",
                      raw_body=archive, expect=201, content_type="application/x-tar")
    c.expect("restore: names the collection", restored == {"restored": "snap_a"}, repr(restored))
    c.expect("restore: as many points as the snapshot",
             count_of(c, "restored: count", "snap_a") == small_count, "counts differ")
    got = c.call("restored: a point", "GET", POINT, "/v1/collections/snap_a/points/w3?include_vector=true")
    original = c.call("original: the same point", "GET", POINT, S + "/points/w3?include_vector=true")
    c.expect("restored: the point as it was", got is not None and got == original, f"{got!r} vs {original!r}")
    described = c.call("restored: its summary", "GET", "/v1/collections/{name}", "/v1/collections/snap_a")
    c.expect("restored: the dimension and metric of the original",
             described == {"name": "snap_a", "dimension": 2, "metric": "cosine", "points": small_count,
                           "quantization": "none", "status": "ok"}, repr(described))
    c.expect("restored: none of the later points", count_of(c, "restored: the later points", "snap_a",
                                                            body={"filter": {"exists": "pad"}}) == 0, "some")
    try:
        response = send_chunked(c.conn, "POST", "/v1/collections/snap_b/snapshots/restore", large_archive,
                                "application/octet-stream")
        restored = c.validate_response("restore over the body limit, chunked", RESTORE, "POST", response, 201)
        c.expect("restore over the body limit: names the collection", restored == {"restored": "snap_b"},
                 repr(restored))
    except (OSError, CheckFailed) as e:
        c.conn.close()
        c.report(False, "restore over the body limit, chunked", f"request failed: {e}")
    c.expect("restore over the body limit: every point", count_of(c, "restored over the limit: count", "snap_b")
             == large_count, "counts differ")
    # The same archive with a Content-Length (curl --data-binary, puffer-cli restore): an upload
    # is held to --max-upload-gb, not --max-body-mb.
    restored = c.call("restore over the body limit, Content-Length", "POST", RESTORE,
                      "/v1/collections/snap_d/snapshots/restore", raw_body=large_archive, expect=201,
                      content_type="application/x-tar")
    c.expect("restore over the body limit, Content-Length: names the collection", restored == {"restored": "snap_d"},
             repr(restored))
    c.expect("restore over the body limit, Content-Length: every point",
             count_of(c, "restored over the limit, Content-Length: count", "snap_d") == large_count, "counts differ")

    # Refused restores create nothing.
    c.call("restore onto an existing collection", "POST", RESTORE, S + "/snapshots/restore", raw_body=archive,
           expect=409, code="already_exists")
    cut = c.call("restore a truncated archive", "POST", RESTORE, "/v1/collections/snap_c/snapshots/restore",
                 raw_body=archive[:len(archive) // 2], expect=400, code="invalid_argument",
                 content_type="application/x-tar")
    c.expect("restore a truncated archive: says it was cut short", isinstance(cut, dict)
             and "cut short" in cut.get("error", {}).get("message", ""), repr(cut))
    damaged = bytearray(archive)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as members:
        segment = next(m for m in members.getmembers() if m.name.startswith("segments/"))
    damaged[segment.offset_data + segment.size // 2] ^= 0x01  # the segment's crc32c no longer matches
    bad = c.call("restore a damaged archive", "POST", RESTORE, "/v1/collections/snap_c/snapshots/restore",
                 raw_body=bytes(damaged), expect=400, code="invalid_argument")
    c.expect("restore a damaged archive: says which member", isinstance(bad, dict)
             and "checksum" in bad.get("error", {}).get("message", ""), repr(bad))
    c.call("restore an empty body", "POST", RESTORE, "/v1/collections/snap_c/snapshots/restore", raw_body=b"",
           expect=400, code="invalid_argument")
    c.call("restore: not an archive", "POST", RESTORE, "/v1/collections/snap_c/snapshots/restore",
           {"points": []}, expect=400, code="invalid_argument")
    c.call("restore: bad collection name", "POST", RESTORE, "/v1/collections/bad.name/snapshots/restore",
           raw_body=archive, expect=400, code="invalid_argument")
    c.call("refused restores created nothing", "GET", "/v1/collections/{name}", "/v1/collections/snap_c",
           expect=404, code="not_found")

    # Snapshots outlive their collection.
    kept = c.call("snapshot of the restored collection", "POST", SNAPSHOTS, "/v1/collections/snap_b/snapshots",
                  expect=201)
    c.call("delete the restored collection", "DELETE", "/v1/collections/{name}", "/v1/collections/snap_b")
    listed = c.call("list the snapshots of a deleted collection", "GET", SNAPSHOTS,
                    "/v1/collections/snap_b/snapshots")
    c.expect("a deleted collection's snapshots are still listed", isinstance(kept, dict)
             and listed == {"snapshots": [kept]}, repr(listed))
    if isinstance(kept, dict):
        download(c, "download the snapshot of a deleted collection", "snap_b", kept["id"])
        gone = c.call("delete the snapshot of a deleted collection", "DELETE", SNAPSHOT,
                      f"/v1/collections/snap_b/snapshots/{kept['id']}")
        c.expect("delete a snapshot: names it", gone == {"deleted": kept["id"]}, repr(gone))
    c.call("list: neither collection nor snapshots", "GET", SNAPSHOTS, "/v1/collections/snap_b/snapshots",
           expect=404, code="not_found")

    # Delete.
    gone = c.call("delete a snapshot", "DELETE", SNAPSHOT, f"{S}/snapshots/{small_id}")
    c.expect("delete a snapshot: its id", gone == {"deleted": small_id}, repr(gone))
    c.call("delete a snapshot again", "DELETE", SNAPSHOT, f"{S}/snapshots/{small_id}", expect=404, code="not_found")
    c.call("download a deleted snapshot", "GET", SNAPSHOT, f"{S}/snapshots/{small_id}", expect=404, code="not_found")
    listed = c.call("list after a delete", "GET", SNAPSHOTS, S + "/snapshots")
    c.expect("list after a delete: the other one", listed == {"snapshots": [large]}, repr(listed))
    c.call("delete a snapshot: unknown collection", "DELETE", SNAPSHOT, f"/v1/collections/nope/snapshots/{large_id}",
           expect=404, code="not_found")
    c.call("delete a snapshot: bad collection name", "DELETE", SNAPSHOT,
           f"/v1/collections/bad.name/snapshots/{large_id}", expect=400, code="invalid_argument")
    c.call("delete the other snapshot", "DELETE", SNAPSHOT, f"{S}/snapshots/{large_id}")
    listed = c.call("list when none is left", "GET", SNAPSHOTS, S + "/snapshots")
    c.expect("list when none is left: empty, the collection exists", listed == {"snapshots": []}, repr(listed))
    for name in ("snap", "snap_a"):
        c.call(f"delete {name}", "DELETE", "/v1/collections/{name}", f"/v1/collections/{name}")


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
                                                       "points": 0, "quantization": "none", "status": "ok"},
             repr(created))
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
        ("create: unindexed_fields not an array", {"name": "x", "dimension": 3, "unindexed_fields": "body"}),
        ("create: an unindexed field not a string", {"name": "x", "dimension": 3, "unindexed_fields": [1]}),
        ("create: an empty unindexed field", {"name": "x", "dimension": 3, "unindexed_fields": [""]}),
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

    # Unindexed fields: kept in the summary (sorted, once); a filter on one, or beneath one, is 400.
    for label, fields in [("create: an unindexed field with an empty part", ["a..b"]),
                          ("create: \"id\" as an unindexed field", ["id"])]:
        c.call(label, "POST", C, C, {"name": "x", "dimension": 3, "unindexed_fields": fields}, 400,
               "invalid_argument")
    made = c.call("create with unindexed fields", "POST", C, C,
                  {"name": "unix", "dimension": 2, "unindexed_fields": ["text", "meta.raw", "text"]}, 201,
                  request_valid=True)
    c.expect("unindexed fields are answered sorted and once",
             isinstance(made, dict) and made.get("unindexed_fields") == ["meta.raw", "text"], repr(made))
    described = c.call("describe with unindexed fields", "GET", NAME, "/v1/collections/unix")
    c.expect("describe answers the unindexed fields",
             isinstance(described, dict) and described.get("unindexed_fields") == ["meta.raw", "text"],
             repr(described))
    c.call("stats with unindexed fields", "GET", "/v1/collections/{name}/stats", "/v1/collections/unix/stats")
    c.call("upsert with unindexed fields", "POST", "/v1/collections/{name}/points", "/v1/collections/unix/points",
           {"points": [{"id": "a", "vector": [1, 2], "payload": {"text": "long", "meta": {"raw": 1, "k": "v"}}}]})
    c.call("count on an unindexed field", "POST", "/v1/collections/{name}/points/count",
           "/v1/collections/unix/points/count", {"filter": {"exists": "text"}}, 400, "invalid_argument")
    c.call("search beneath an unindexed field", "POST", "/v1/collections/{name}/search",
           "/v1/collections/unix/search", {"vector": [1, 2], "filter": {"eq": ["meta.raw.x", 1]}}, 400,
           "invalid_argument")
    counted = c.call("count on an indexed sibling", "POST", "/v1/collections/{name}/points/count",
                     "/v1/collections/unix/points/count", {"filter": {"eq": ["meta.k", "v"]}})
    c.expect("an indexed sibling still filters", counted == {"count": 1}, repr(counted))
    c.call("delete the collection with unindexed fields", "DELETE", NAME, "/v1/collections/unix")

    # A quantized collection: created, described, searched (stats with refine and reranked).
    made = c.call("create with quantization", "POST", C, C, {"name": "q8", "dimension": 2, "quantization": "sq8"},
                  201, request_valid=True)
    c.expect("create answers the quantization", isinstance(made, dict) and made.get("quantization") == "sq8",
             repr(made))
    c.call("create with an unknown quantization", "POST", C, C, {"name": "q9", "dimension": 2, "quantization": "pq"},
           400, "invalid_argument", request_valid=False)
    c.call("upsert into the quantized collection", "POST", "/v1/collections/{name}/points",
           "/v1/collections/q8/points", {"points": [{"id": str(i), "vector": [i, 1]} for i in range(50)]})
    c.call("flush the quantized collection", "POST", FLUSH, "/v1/collections/q8/flush", {})
    found = c.call("search with refine", "POST", "/v1/collections/{name}/search", "/v1/collections/q8/search",
                   {"vector": [7, 1], "top_k": 2, "refine": 3}, request_valid=True)
    c.expect("a quantized search says it re-ranked",
             isinstance(found, dict) and found["stats"].get("refine") == 3 and found["stats"].get("reranked", 0) > 0
             and found["results"][0]["id"] == "7" and found["results"][0]["score"] == 0, repr(found))
    c.call("search with refine 0", "POST", "/v1/collections/{name}/search", "/v1/collections/q8/search",
           {"vector": [7, 1], "refine": 0}, 400, "invalid_argument", request_valid=False)
    c.call("delete the quantized collection", "DELETE", NAME, "/v1/collections/q8")

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
    got = c.call("get a point from the segment", "GET", POINT, "/v1/collections/docs/points/a?include_vector=true")
    c.expect("get a point from the segment: its payload and normalized vector",
             got == {"id": "a", "vector": [1, 0, 0], "payload": {"color": "red"}}, repr(got))
    got = c.call("get points from the segment", "POST", GET_POINTS, "/v1/collections/docs/points/get",
                 {"ids": ["c", 7], "include_vector": True}, request_valid=True)
    c.expect("get points from the segment: a cosine collection answers normalized vectors",
             isinstance(got, dict) and [p.get("vector") for p in got.get("points", [])][:1] == [[0, 1, 0]]
             and len(got.get("points", [])) == 2
             and abs(sum(x * x for x in got["points"][1].get("vector", [])) - 1) < 1e-6, repr(got))

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

    # Reading points back (by id, by ids, by scroll), payload patches and deletes by filter, on
    # collections of their own.
    run_point_reads(c)
    run_point_writes(c)
    run_point_limits(c)
    run_snapshots(c)

    # Compact.
    c.call("compact", "POST", COMPACT, "/v1/collections/docs/compact")
    c.call("compact: unknown collection", "POST", COMPACT, "/v1/collections/nope/compact", expect=404,
           code="not_found")
    got = c.call("one point left", "GET", NAME, "/v1/collections/docs")
    c.expect("docs has 1 point", isinstance(got, dict) and got.get("points") == 1, repr(got))

    # 405 on every path for every method it does not take, with the right Allow header.
    concrete = {"/healthz": "/healthz", "/metrics": "/metrics", C: C}
    for template in c.spec.doc["paths"]:
        concrete.setdefault(template, template.replace("{name}", "docs").replace("{id}", "a"))
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
    # (GET / and /console are the web console's page, outside this API.)
    for path in ["/console/no-such-file.js", "/console/a/b", "/healthz/x", "/v1", "/v2/collections", "/v1/things",
                 "/v1/collections/docs/frob", "/v1/collections/docs/points/a/b", "/v1/collections/docs/a/b/c"]:
        c.call(f"route {path}", "GET", None, path, expect=404, code="route_not_found")

    # Raw bytes on a fresh connection: the error answer, and the connection closed after it.
    def raw_refusal(label, data, status, code):
        raw = Connection(c.port)
        try:
            raw.send_raw(data)
            response = raw.read_response()
            c.validate_response(label, None, "-", response, status, code)
            c.expect(f"{label}: connection closed", response.headers.get("connection", "").lower() == "close",
                     repr(response.headers))
        except (OSError, CheckFailed) as e:
            c.report(False, label, f"request failed: {e}")
        finally:
            raw.close()

    # 400 for malformed HTTP.
    raw_refusal("malformed: bad method", b"GARBAGE\r\n\r\n", 400, "bad_request")
    raw_refusal("malformed: bad Content-Length",
                b"POST /v1/collections HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "bad_request")
    # A Transfer-Encoding that does not end in chunked is 400; another coding before chunked, 501.
    for label, coding, status, code in [("transfer coding gzip", "gzip", 400, "bad_request"),
                                        ("transfer coding gzip, chunked", "gzip, chunked", 501, "not_implemented")]:
        raw_refusal(label, f"POST /v1/collections HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {coding}\r\n\r\n"
                           "2\r\n{}\r\n0\r\n\r\n".encode(), status, code)

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


def run_access(c, server_binary, temp, log):
    """401 and 403: a server with a full and a read-only key."""
    C = "/v1/collections"
    K = "/v1/collections/keyed"
    full_key, read_key = "full-key-for-the-check", "read-only-key-for-the-check"
    full = {"Authorization": f"Bearer {full_key}"}
    full_header = {"api-key": full_key}
    read_only = {"api-key": read_key}
    read_only_bearer = {"Authorization": f"bearer {read_key}"}
    port_file = os.path.join(temp, "port-keys")
    server = start_server(server_binary, os.path.join(temp, "data-keys"), port_file, log,
                          ["--api-key", full_key, "--read-only-api-key", read_key])
    a = Checker(c.spec, wait_ready(port_file, server))
    a.call("keys: health without a key", "GET", "/healthz", "/healthz")
    a.call("keys: create with the full key", "POST", C, C, {"name": "keyed", "dimension": 2}, 201, headers=full)
    a.call("keys: upsert with the full key in api-key", "POST", "/v1/collections/{name}/points", K + "/points",
           {"points": [{"id": "a", "vector": [1, 2], "payload": {"n": 1}}]}, headers=full_header)
    taken = a.call("keys: snapshot with the full key", "POST", SNAPSHOTS, K + "/snapshots", expect=201, headers=full)
    snapshot_id = taken.get("id") if isinstance(taken, dict) else "none"
    archive = download(a, "keys: download with the full key", "keyed", snapshot_id, headers=full) or b""

    # No key, or a wrong one: 401 on every route but /healthz, before routing.
    no_key = [
        ("list", "GET", C, C, None),
        ("metrics", "GET", "/metrics", "/metrics", None),
        ("create", "POST", C, C, {"name": "other", "dimension": 2}),
        ("describe", "GET", "/v1/collections/{name}", K, None),
        ("search", "POST", "/v1/collections/{name}/search", K + "/search", {"vector": [1, 2]}),
        ("upsert", "POST", "/v1/collections/{name}/points", K + "/points",
         {"points": [{"id": "b", "vector": [1, 2]}]}),
        ("get a point", "GET", POINT, K + "/points/a", None),
        ("snapshot", "POST", SNAPSHOTS, K + "/snapshots", None),
        ("list snapshots", "GET", SNAPSHOTS, K + "/snapshots", None),
        ("download", "GET", SNAPSHOT, f"{K}/snapshots/{snapshot_id}", None),
        ("delete a collection", "DELETE", "/v1/collections/{name}", K, None),
    ]
    for label, method, template, path, body in no_key:
        a.call(f"no key: {label}", method, template, path, body, 401, "unauthorized")
    for label, headers in [("a wrong key", {"Authorization": "Bearer wrong"}), ("a wrong api-key", {"api-key": "x"}),
                           ("a key without Bearer", {"Authorization": full_key})]:
        a.call(f"{label}: list", "GET", C, C, expect=401, code="unauthorized", headers=headers)
    a.call("no key: an unknown path", "GET", None, "/v1/things", expect=401, code="unauthorized")
    a.call("no key: a method the path does not take", "PUT", C, C, {}, 401, "unauthorized")
    a.call("no key: restore (refused before the body is read)", "POST", RESTORE,
           "/v1/collections/other/snapshots/restore", raw_body=archive, expect=401, code="unauthorized")
    a.expect("no key: restore closes the connection", a.conn.sock is None, "the connection stayed open")

    # The read-only key: what changes nothing, but no write and no snapshot.
    reads = [
        ("list", "GET", C, C, None),
        ("metrics", "GET", "/metrics", "/metrics", None),
        ("describe", "GET", "/v1/collections/{name}", K, None),
        ("stats", "GET", "/v1/collections/{name}/stats", K + "/stats", None),
        ("search", "POST", "/v1/collections/{name}/search", K + "/search", {"vector": [1, 2]}),
        ("count", "POST", COUNT_POINTS, K + "/points/count", {}),
        ("get a point", "GET", POINT, K + "/points/a", None),
        ("scroll", "POST", SCROLL, K + "/points/scroll", {}),
    ]
    for label, method, template, path, body in reads:
        a.call(f"read-only key: {label}", method, template, path, body, headers=read_only)
    a.call("read-only key as a bearer token: list", "GET", C, C, headers=read_only_bearer)
    a.call("read-only key: an unknown path", "GET", None, "/v1/things", expect=404, code="route_not_found",
           headers=read_only)
    writes = [
        ("create", "POST", C, C, {"name": "other", "dimension": 2}),
        ("upsert", "POST", "/v1/collections/{name}/points", K + "/points", {"points": [{"id": "b", "vector": [1, 2]}]}),
        ("delete points", "POST", DELETE_POINTS, K + "/points/delete", {"ids": ["a"]}),
        ("patch", "POST", PATCH, K + "/points/payload", {"ids": ["a"], "payload": {"n": 2}}),
        ("flush", "POST", "/v1/collections/{name}/flush", K + "/flush", None),
        ("compact", "POST", "/v1/collections/{name}/compact", K + "/compact", None),
        ("delete a collection", "DELETE", "/v1/collections/{name}", K, None),
        ("snapshot", "POST", SNAPSHOTS, K + "/snapshots", None),
        ("list snapshots", "GET", SNAPSHOTS, K + "/snapshots", None),
        ("download", "GET", SNAPSHOT, f"{K}/snapshots/{snapshot_id}", None),
        ("delete a snapshot", "DELETE", SNAPSHOT, f"{K}/snapshots/{snapshot_id}", None),
    ]
    for label, method, template, path, body in writes:
        a.call(f"read-only key: {label}", method, template, path, body, 403, "forbidden", headers=read_only)
    a.call("read-only key: restore (refused before the body is read)", "POST", RESTORE,
           "/v1/collections/other/snapshots/restore", raw_body=archive, expect=403, code="forbidden",
           headers=read_only_bearer)
    a.expect("read-only key: restore closes the connection", a.conn.sock is None, "the connection stayed open")
    counted = a.call("keys: nothing changed", "POST", COUNT_POINTS, K + "/points/count", headers=read_only)
    a.expect("keys: the refused writes changed nothing", counted == {"count": 1}, repr(counted))
    a.call("keys: restore with the full key", "POST", RESTORE, "/v1/collections/other/snapshots/restore",
           raw_body=archive, expect=201, headers=full)
    a.call("keys: delete the snapshot with the full key", "DELETE", SNAPSHOT, f"{K}/snapshots/{snapshot_id}",
           headers=full)
    a.conn.close()
    stop_server(c, "keys", server)
    c.absorb(a)


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
        ("get a point", "GET", "/v1/collections/{name}/points/{id}", "/v1/collections/broken/points/a", None),
        ("get points", "POST", "/v1/collections/{name}/points/get", "/v1/collections/broken/points/get",
         {"ids": ["a"]}),
        ("scroll", "POST", "/v1/collections/{name}/points/scroll", "/v1/collections/broken/points/scroll", None),
        ("delete by filter", "POST", "/v1/collections/{name}/points/delete", "/v1/collections/broken/points/delete",
         {"filter": {"exists": "id"}}),
        ("patch", "POST", "/v1/collections/{name}/points/payload", "/v1/collections/broken/points/payload",
         {"ids": ["a"], "payload": {"x": 1}}),
        ("snapshot", "POST", SNAPSHOTS, "/v1/collections/broken/snapshots", None),
    ]
    for label, method, template, path, body in calls:
        failed.call(f"failed collection: {label}", method, template, path, body, 500, "collection_failed")
    stats = failed.call("failed collection: stats", "GET", "/v1/collections/{name}/stats",
                        "/v1/collections/broken/stats")
    failed.expect("failed collection: stats say failed and why",
                  isinstance(stats, dict) and stats.get("status") == "failed" and "MANIFEST" in stats.get("failure", ""),
                  repr(stats))
    listed = failed.call("failed collection: list snapshots", "GET", SNAPSHOTS, "/v1/collections/broken/snapshots")
    failed.expect("failed collection: no snapshot was taken", listed == {"snapshots": []}, repr(listed))
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
        full.call("507 setup: upsert", "POST", "/v1/collections/{name}/points", "/v1/collections/full/points",
                  {"points": [{"id": "seed", "vector": [1.0, 2.0]}]})
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
        patch = {"ids": ["seed"], "payload": {"pad": "x" * 200000}}
        full.call("disk full: patch", "POST", "/v1/collections/{name}/points/payload",
                  "/v1/collections/full/points/payload", patch, 507, "insufficient_storage")
        full.call("disk full: snapshot", "POST", SNAPSHOTS, "/v1/collections/full/snapshots", None, 507,
                  "insufficient_storage")
        listed = full.call("disk full: list snapshots", "GET", SNAPSHOTS, "/v1/collections/full/snapshots")
        full.expect("disk full: the failed snapshot is not listed", listed == {"snapshots": []}, repr(listed))
        # An upload that meets the full disk is answered, not cut off.
        full.call("disk full: restore", "POST", RESTORE, "/v1/collections/back/snapshots/restore",
                  raw_body=b"\0" * (1 << 20), expect=507, code="insufficient_storage",
                  content_type="application/x-tar")
        os.remove(filler)
        full.call("space again: upsert", "POST", "/v1/collections/{name}/points", "/v1/collections/full/points",
                  points)
        full.call("space again: patch", "POST", "/v1/collections/{name}/points/payload",
                  "/v1/collections/full/points/payload", patch)
        full.call("space again: snapshot", "POST", SNAPSHOTS, "/v1/collections/full/snapshots", None, 201)
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
                examples = [("example", content["example"])] if "example" in content else []
                for name, example in content.get("examples", {}).items():
                    examples.append((f"example {name}", c.spec.resolve(example).get("value")))
                for name, example in examples:
                    errors = c.spec.validate(content["schema"], example)
                    c.expect(f"{name} of {method} {template} {where} matches its schema", not errors,
                             "; ".join(errors[:3]))


def check_coverage(c):
    for template in c.spec.doc["paths"]:
        for method in c.spec.methods(template):
            seen = c.exercised.get((template, method), set())
            success = [s for s in seen if 200 <= s < 300]
            c.expect(f"coverage: {method} {template} exercised with success",
                     success, f"statuses seen: {sorted(seen)}")
    for status in (400, 401, 403, 404, 405, 409, 413, 500, 501, 503, 507):
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
            run_access(checker, args.server_binary, temp, log)
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
