"""The Python client against a live puffer-server (started here, on a free port, in a temporary
data directory): every call, numpy input, batching, typed results, the error type with the
server's code, API keys, and python3 -m openpuffer.

Run: PUFFER_SERVER_BINARY=build/apps/puffer-server PYTHONPATH=clients/python \\
     python3 -m unittest discover -s clients/python/tests -v
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import numpy as np

from openpuffer import Client, Hit, OpenPufferError, SearchResult

BINARY = os.environ.get("PUFFER_SERVER_BINARY", "build/apps/puffer-server")


class Server:
    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="puffer-py-")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen([BINARY, "--data-dir", os.path.join(self.dir, "data"), "--bind-addr",
                                      "127.0.0.1:0", "--port-file", port_file, "--shards", "2", "--cache-mb", "64",
                                      "--log-level", "warn", *args], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        def read(path):
            with open(path) as f:
                return f.read()

        while not (os.path.exists(port_file) and read(port_file).strip()):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("puffer-server did not start: " + read(self.log.name))
            time.sleep(0.05)
        self.url = "http://127.0.0.1:" + read(port_file).strip()
        while True:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=5).read()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(60)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return code


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.c = Client(cls.server.url)

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def test_collections_points_and_search(self):
        c = self.c
        self.assertEqual(c.health(), {"status": "ok"})
        c.create_collection("docs", dimension=3, metric="cosine")
        self.assertIn("docs", [x["name"] for x in c.list_collections()])
        self.assertEqual(c.describe("docs")["dimension"], 3)
        sent = c.upsert("docs", [
            {"id": "a", "vector": [1, 0, 0], "payload": {"lang": "en"}},
            {"id": 7, "vector": np.array([0.9, 0.1, 0], dtype=np.float32)},
            {"id": "c", "vector": (0, 1, 0)},
        ])
        self.assertEqual(sent, 3)
        result = c.search("docs", np.array([1.0, 0.0, 0.0]), top_k=2, include_payload=True)
        self.assertIsInstance(result, SearchResult)
        self.assertEqual(len(result), 2)
        self.assertEqual(result.hits[0], Hit("a", 1.0, {"lang": "en"}))
        self.assertEqual(result.hits[1].id, "7")  # integer ids come back as strings
        self.assertIsNone(result.hits[1].payload)
        self.assertEqual(result.stats["vectors_scanned"], 3)
        batch = c.search_batch("docs", np.array([[0, 1, 0], [1, 0, 0]]), top_k=1)
        self.assertEqual([r.hits[0].id for r in batch], ["c", "a"])
        self.assertEqual(batch[0].stats["vectors_scanned"], 3)
        self.assertEqual(c.delete("docs", ["c", "nope"]), 1)
        self.assertEqual(c.stats("docs")["points"], 2)
        self.assertEqual(c.flush("docs"), {"flushed": True})
        self.assertEqual(c.search("docs", [0, 1, 0], top_k=5).hits[0].id, "7")  # c is gone
        measured = c.recall("docs", num_queries=2, top_k=1)
        self.assertEqual(measured["recall"], 1.0)
        self.assertIn('puffer_collection_points{collection="docs"} 2', c.metrics())
        c.delete_collection("docs")
        self.assertNotIn("docs", [x["name"] for x in c.list_collections()])

    def test_large_upserts_are_batched(self):
        c = self.c
        c.create_collection("many", dimension=8)
        rng = np.random.default_rng(5)
        vectors = rng.standard_normal((2500, 8)).astype(np.float32)
        ids = [f"p{i}" for i in range(2500)]

        def upserts_answered():
            key = 'puffer_http_requests_total{route="/v1/collections/{name}/points",status="200"} '
            lines = [x for x in c.metrics().splitlines() if x.startswith(key)]
            return int(lines[0][len(key):]) if lines else 0

        before = upserts_answered()
        self.assertEqual(c.upsert_vectors("many", ids, vectors, payloads=[{"i": i} for i in range(2500)]), 2500)
        # An answer is counted once the server has finished sending it, which may come just after
        # the client has read it: wait a little for the last one.
        deadline = time.time() + 10
        while upserts_answered() - before < 3 and time.time() < deadline:
            time.sleep(0.01)
        self.assertEqual(upserts_answered() - before, 3)  # 1000 + 1000 + 500
        self.assertEqual(c.stats("many")["points"], 2500)
        hit = c.search("many", vectors[1234], top_k=1, include_payload=True).hits[0]
        self.assertEqual((hit.id, hit.payload), ("p1234", {"i": 1234}))
        with self.assertRaises(ValueError):
            c.upsert_vectors("many", ids[:3], vectors[:2])

    def test_a_quantized_collection_answers_exact_scores(self):
        c = self.c
        info = c.create_collection("q8", dimension=8, quantization="sq8")
        self.assertEqual(info["quantization"], "sq8")
        rng = np.random.default_rng(7)
        vectors = rng.standard_normal((500, 8)).astype(np.float32)
        c.upsert_vectors("q8", [f"p{i}" for i in range(500)], vectors)
        c.flush("q8")
        self.assertEqual(c.describe("q8")["quantization"], "sq8")
        hit = c.search("q8", vectors[42], top_k=1, refine=3).hits[0]
        self.assertEqual(hit.id, "p42")
        self.assertEqual(hit.score, 0.0)  # re-scored with the float vector: exact
        with self.assertRaises(OpenPufferError) as e:
            c.search("q8", vectors[0], refine=0)
        self.assertEqual(e.exception.status, 400)

    def test_errors_carry_the_servers_status_code_and_message(self):
        c = self.c
        with self.assertRaises(OpenPufferError) as e:
            c.search("missing", [1, 2], top_k=1)
        self.assertEqual((e.exception.status, e.exception.code), (404, "not_found"))
        self.assertIn("missing", e.exception.message)
        c.create_collection("e", dimension=2)
        with self.assertRaises(OpenPufferError) as e:
            c.create_collection("e", dimension=2)
        self.assertEqual((e.exception.status, e.exception.code), (409, "already_exists"))
        with self.assertRaises(OpenPufferError) as e:
            c.upsert("e", [{"id": "x", "vector": [1, 2, 3]}])
        self.assertEqual((e.exception.status, e.exception.code), (400, "invalid_argument"))
        self.assertIn("dimension", e.exception.message)
        self.assertEqual(c.stats("e")["points"], 0)  # nothing of the bad batch was stored
        with self.assertRaises(OpenPufferError) as e:
            Client("http://127.0.0.1:1", timeout=2).health()
        self.assertEqual((e.exception.status, e.exception.code), (0, "unreachable"))

    def test_the_module_runs_from_the_shell(self):
        self.c.create_collection("sh", dimension=2)
        self.c.upsert("sh", [{"id": "q", "vector": [1, 1]}])
        env = dict(os.environ, PUFFER_SERVER=self.server.url, PYTHONPATH=os.pathsep.join(sys.path))
        out = subprocess.run([sys.executable, "-m", "openpuffer", "search", "sh", "[1, 1]", "--top-k", "1"],
                             env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["results"][0]["id"], "q")
        out = subprocess.run([sys.executable, "-m", "openpuffer", "stats", "nope"], env=env, capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 1)
        self.assertIn("HTTP 404 not_found", out.stderr)


class ApiKeyTest(unittest.TestCase):
    def test_keys(self):
        server = Server("--api-key", "full-key-0123456789", "--read-only-api-key", "read-key-0123456789")
        try:
            with self.assertRaises(OpenPufferError) as e:
                Client(server.url).list_collections()
            self.assertEqual((e.exception.status, e.exception.code), (401, "unauthorized"))
            full = Client(server.url, api_key="full-key-0123456789")
            full.create_collection("k", dimension=2)
            reader = Client(server.url, api_key="read-key-0123456789")
            self.assertEqual([x["name"] for x in reader.list_collections()], ["k"])
            with self.assertRaises(OpenPufferError) as e:
                reader.upsert("k", [{"id": "a", "vector": [1, 2]}])
            self.assertEqual((e.exception.status, e.exception.code), (403, "forbidden"))
            os.environ["PUFFER_API_KEY"] = "full-key-0123456789"
            try:
                self.assertEqual(Client(server.url).stats("k")["points"], 0)
            finally:
                del os.environ["PUFFER_API_KEY"]
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
