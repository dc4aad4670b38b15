// The client against a live puffer-server: every call, batching, scrolling, typed errors with
// the server's status, code and message, retries on 503, API keys, and the generated schema.
//
// Run: PUFFER_SERVER_BINARY=build/apps/puffer-server npm run build && npm test (in clients/js)

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

import { Client, OpenPufferError, UPSERT_BATCH_MAX, type PointInput } from "openpuffer";
import { Server } from "./server.js";

async function rejects(promise: Promise<unknown>, status: number, code: string): Promise<OpenPufferError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof OpenPufferError, `expected an OpenPufferError, got ${String(e)}`);
    assert.deepEqual([e.status, e.code], [status, code], e.message);
    return e;
  }
  assert.fail(`expected HTTP ${status} ${code}, but the call succeeded`);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** A stand-in server on loopback that answers each request with `answer`. */
async function fakeServer(answer: (n: number, res: import("node:http").ServerResponse) => void): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: HttpServer = createServer((req, res) => {
    req.resume();
    req.on("end", () => answer(n++, res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => n,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

describe("client against a live server", () => {
  let server: Server;
  let c: Client;

  before(async () => {
    server = await Server.start();
    c = new Client({ url: server.url, apiKey: null });
  });

  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  it("creates, lists, describes and drops collections", async () => {
    assert.deepEqual(await c.health(), { status: "ok" });
    const made = await c.createCollection("docs", { dimension: 3, metric: "cosine", unindexedFields: ["body", "meta.raw"] });
    assert.deepEqual(made, { name: "docs", dimension: 3, metric: "cosine", points: 0, unindexed_fields: ["body", "meta.raw"], quantization: "none", status: "ok" });
    assert.equal((await c.createCollection("dots", { dimension: 2, metric: "dot" })).metric, "ip");
    assert.equal((await c.createCollection("plain", { dimension: 2 })).metric, "l2");
    const names = (await c.listCollections()).map((x) => x.name);
    assert.deepEqual(names.filter((n) => ["docs", "dots", "plain"].includes(n)), ["docs", "dots", "plain"]);
    assert.equal((await c.describe("docs")).dimension, 3);
    const stats = await c.stats("docs");
    assert.equal(stats.points, 0);
    assert.equal(typeof stats.io.ring, "string");
    assert.deepEqual(await c.deleteCollection("dots"), { deleted: "dots" });
    assert.deepEqual(await c.deleteCollection("plain"), { deleted: "plain" });
    assert.ok(!(await c.listCollections()).some((x) => x.name === "dots"));
    await c.deleteCollection("docs");
  });

  it("upserts, searches and batch-searches", async () => {
    await c.createCollection("s", { dimension: 3, metric: "cosine" });
    const sent = await c.upsert("s", [
      { id: "a", vector: [1, 0, 0], payload: { lang: "en", n: 1, tags: ["x", "y"] } },
      { id: 7, vector: new Float32Array([0.9, 0.1, 0]) },
      { id: 18446744073709551615n, vector: [0, 1, 0], payload: null },
      { id: "d", vector: new Float64Array([0, 0.2, 1]), payload: { lang: "de", n: 2 } },
    ]);
    assert.equal(sent, 4);
    const r = await c.search("s", [1, 0, 0], { topK: 2, includePayload: true });
    assert.equal(r.results.length, 2);
    assert.deepEqual(r.results[0], { id: "a", score: 1, payload: { lang: "en", n: 1, tags: ["x", "y"] } });
    assert.equal(r.results[1]!.id, "7"); // integer ids come back as strings
    assert.equal(r.results[1]!.payload, null);
    assert.equal(r.stats.vectors_scanned, 4);
    // Without include_payload, hits have no payload key; with a field list, only those fields.
    assert.ok(!("payload" in (await c.search("s", [1, 0, 0], { topK: 1 })).results[0]!));
    assert.deepEqual((await c.search("s", [1, 0, 0], { topK: 1, includePayload: ["n", "nope"] })).results[0]!.payload, { n: 1 });
    const filtered = await c.search("s", [1, 0, 0], { topK: 5, filter: { eq: ["lang", "de"] } });
    assert.deepEqual(filtered.results.map((h) => h.id), ["d"]);
    assert.equal(filtered.stats.matches, 1);
    assert.equal(filtered.stats.exhaustive, true);
    const nested = await c.search("s", [1, 0, 0], { filter: { and: [{ range: ["n", { gte: 1, lt: 2 }] }, { contains: ["tags", "y"] }] } });
    assert.deepEqual(nested.results.map((h) => h.id), ["a"]);
    assert.deepEqual((await c.search("s", [0, 1, 0], { topK: 1 })).results[0]!.id, "18446744073709551615");

    const batch = await c.searchBatch("s", [
      [0, 1, 0],
      new Float32Array([1, 0, 0]),
      { vector: [1, 0, 0], topK: 3, filter: { exists: "lang" }, includePayload: ["lang"] },
    ], { topK: 1 });
    assert.equal(batch.length, 3);
    assert.deepEqual(batch.map((b) => b.results.map((h) => h.id)), [["18446744073709551615"], ["a"], ["a", "d"]]);
    assert.deepEqual(batch[2]!.results.map((h) => h.payload), [{ lang: "en" }, { lang: "de" }]);
    assert.equal(batch[0]!.stats.vectors_scanned, 4);
    assert.equal(batch[2]!.stats.matches, 2);
    await c.deleteCollection("s");
  });

  it("sends large upserts in batches, from arrays and from async iterables", async () => {
    await c.createCollection("many", { dimension: 8 });
    const upsertsAnswered = async () => {
      const key = 'puffer_http_requests_total{route="/v1/collections/{name}/points",status="200"} ';
      const line = (await c.metrics()).split("\n").find((l) => l.startsWith(key));
      return line ? Number(line.slice(key.length)) : 0;
    };
    let seed = 5;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const vectors = Array.from({ length: 2500 }, () => Float32Array.from({ length: 8 }, random));
    const ids = vectors.map((_, i) => `p${i}`);
    const before = await upsertsAnswered();
    assert.equal(UPSERT_BATCH_MAX, 1000);
    assert.equal(await c.upsertVectors("many", ids, vectors, vectors.map((_, i) => ({ i }))), 2500);
    // An answer is counted once the server has finished sending it, which may be just after the
    // client has read it: wait a little for the last one.
    const deadline = Date.now() + 10_000;
    while ((await upsertsAnswered()) - before < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal((await upsertsAnswered()) - before, 3); // 1000 + 1000 + 500
    assert.equal(await c.count("many"), 2500);
    const hit = (await c.search("many", vectors[1234]!, { topK: 1, includePayload: true, nprobe: 1000 })).results[0]!;
    assert.deepEqual([hit.id, hit.payload], ["p1234", { i: 1234 }]);

    async function* more(): AsyncGenerator<PointInput> {
      for (let i = 0; i < 25; i++) yield { id: `q${i}`, vector: vectors[i]! };
    }
    assert.equal(await c.upsert("many", more(), { batchSize: 10 }), 25);
    assert.equal(await c.count("many"), 2525);
    assert.throws(() => c.upsertVectors("many", ids.slice(0, 3), vectors.slice(0, 2)), RangeError);
    await assert.rejects(c.upsert("many", [], { batchSize: 0 }), RangeError);
    await c.deleteCollection("many");
  });

  it("reads points by id", async () => {
    await c.createCollection("g", { dimension: 3 });
    await c.upsert("g", [
      { id: "a", vector: [1, 2, 3], payload: { color: "red", size: 2 } },
      { id: 7, vector: [0.5, 0, 0] },
      { id: "a/b c", vector: [0, 0, 1], payload: { k: "slash" } },
      { id: "count", vector: [0, 1, 0], payload: { k: "reserved" } },
    ]);
    assert.deepEqual(await c.getPoint("g", "a"), { id: "a", payload: { color: "red", size: 2 } });
    assert.deepEqual(await c.getPoint("g", "a", { includeVector: true, includePayload: false }), { id: "a", vector: [1, 2, 3] });
    assert.deepEqual(await c.getPoint("g", 7, { includeVector: true }), { id: "7", vector: [0.5, 0, 0], payload: null });
    assert.deepEqual(await c.getPoint("g", "a/b c"), { id: "a/b c", payload: { k: "slash" } });
    // "count" is also a route's name: the client reads it through points/get.
    assert.deepEqual(await c.getPoint("g", "count"), { id: "count", payload: { k: "reserved" } });
    assert.deepEqual(await c.getPoint("g", "a", { includePayload: ["size"] }), { id: "a", payload: { size: 2 } });
    const missing = await rejects(c.getPoint("g", "zz"), 404, "not_found");
    assert.equal(missing.message, "no point 'zz'");
    await rejects(c.getPoint("g", "delete"), 404, "not_found");

    const got = await c.getPoints("g", ["a", 7n, "zz", "a", "count"], { includeVector: true, includePayload: ["color"] });
    assert.deepEqual(got, {
      points: [
        { id: "a", vector: [1, 2, 3], payload: { color: "red" } },
        { id: "7", vector: [0.5, 0, 0], payload: null },
        { id: "count", vector: [0, 1, 0], payload: {} },
      ],
      missing: ["zz"],
    });
    assert.deepEqual((await c.getPoints("g", ["a"], { includePayload: false })).points, [{ id: "a" }]);
    await c.deleteCollection("g");
  });

  it("scrolls page by page and through every page", async () => {
    await c.createCollection("sc", { dimension: 2 });
    const ids = Array.from({ length: 250 }, (_, i) => `id${String(i).padStart(3, "0")}`);
    await c.upsertVectors("sc", ids, ids.map((_, i) => [i, 1]), ids.map((_, i) => ({ even: i % 2 === 0 })));
    const first = await c.scroll("sc", { limit: 2 });
    assert.deepEqual(first.points, [{ id: "id000", payload: { even: true } }, { id: "id001", payload: { even: false } }]);
    assert.equal(first.next_cursor, "id001");
    const second = await c.scroll("sc", { limit: 1, cursor: first.next_cursor, includePayload: false, includeVector: true });
    assert.deepEqual(second.points, [{ id: "id002", vector: [2, 1] }]);
    assert.equal((await c.scroll("sc")).points.length, 100); // the server's default page

    const pages = await collect(c.scrollPages("sc", { limit: 100, includePayload: false }));
    assert.deepEqual(pages.map((p) => p.points.length), [100, 100, 50]);
    assert.equal(pages.at(-1)!.next_cursor, null);
    const all = await collect(c.scrollAll("sc", { limit: 64 }));
    assert.deepEqual(all.map((p) => p.id), ids);
    const even = await collect(c.scrollAll("sc", { limit: 30, filter: { eq: ["even", true] }, includePayload: false }));
    assert.deepEqual(even.map((p) => p.id), ids.filter((_, i) => i % 2 === 0));
    const rest = await collect(c.scrollAll("sc", { cursor: "id247" }));
    assert.deepEqual(rest.map((p) => p.id), ["id248", "id249"]);
    await c.deleteCollection("sc");
  });

  it("counts, deletes by id and by filter, and patches payloads", async () => {
    await c.createCollection("w", { dimension: 2 });
    await c.upsert("w", [
      { id: "a", vector: [1, 0], payload: { color: "red", size: 1 } },
      { id: "b", vector: [0, 1], payload: { color: "blue", size: 2 } },
      { id: "c", vector: [1, 1], payload: { color: "blue", size: 3 } },
      { id: 4, vector: [2, 1] },
    ]);
    assert.equal(await c.count("w"), 4);
    assert.equal(await c.count("w", { eq: ["color", "blue"] }), 2);
    assert.equal(await c.count("w", { not: { exists: "color" } }), 1);

    assert.equal(await c.patchPayloads("w", { ids: ["a", "b", "zz"], payload: { size: 10, color: null } }), 2);
    assert.deepEqual((await c.getPoints("w", ["a", "b"])).points.map((p) => p.payload), [{ size: 10 }, { size: 10 }]);
    assert.equal(await c.patchPayloads("w", { filter: { eq: ["color", "blue"] }, payload: { tag: "x" }, mode: "replace" }), 1);
    assert.deepEqual((await c.getPoint("w", "c")).payload, { tag: "x" });
    assert.equal(await c.patchPayloads("w", { ids: [4], payload: { size: 4 } }), 1);
    assert.deepEqual((await c.getPoint("w", "4")).payload, { size: 4 });

    assert.equal(await c.delete("w", ["a", "nope"]), 1);
    assert.equal(await c.deleteByFilter("w", { range: ["size", { gte: 4 }] }), 2); // b (10) and 4
    assert.deepEqual((await collect(c.scrollAll("w"))).map((p) => p.id), ["c"]);
    assert.equal(await c.deleteByFilter("w", { eq: ["tag", "nope"] }), 0);
    await c.deleteCollection("w");
  });

  it("flushes, compacts, measures recall and serves metrics", async () => {
    await c.createCollection("m", { dimension: 4 });
    await c.upsertVectors("m", [1, 2, 3, 4, 5], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1]]);
    assert.deepEqual(await c.flush("m"), { flushed: true });
    assert.equal((await c.stats("m")).segments, 1);
    assert.deepEqual(await c.compact("m"), { compacted: true });
    const measured = await c.recall("m", { numQueries: 3, topK: 2 });
    assert.equal(measured.recall, 1);
    assert.equal(measured.num_queries, 3);
    assert.equal((await c.recall("m", { queries: [[1, 0, 0, 0]], topK: 1, nprobe: 1 })).num_queries, 1);
    const text = await c.metrics();
    assert.equal(typeof text, "string");
    assert.match(text, /^puffer_collection_points\{collection="m"\} 5$/m);
    await c.deleteCollection("m");
  });

  it("rejects with the server's status, code and message", async () => {
    const e404 = await rejects(c.search("missing", [1, 2], { topK: 1 }), 404, "not_found");
    assert.equal(e404.message, "collection 'missing' does not exist");
    assert.equal(e404.name, "OpenPufferError");
    assert.match(String(e404), /\(HTTP 404 not_found\)$/);
    await rejects(c.describe("missing"), 404, "not_found");
    await rejects(c.stats("missing"), 404, "not_found");
    await rejects(c.deleteCollection("missing"), 404, "not_found");
    await rejects(c.upsert("missing", [{ id: "a", vector: [1, 2] }]), 404, "not_found");
    await rejects(c.getPoints("missing", ["a"]), 404, "not_found");
    await rejects(c.count("missing"), 404, "not_found");

    await c.createCollection("e", { dimension: 2 });
    const e409 = await rejects(c.createCollection("e", { dimension: 2 }), 409, "already_exists");
    assert.equal(e409.message, "collection 'e' already exists");
    const e400 = await rejects(c.upsert("e", [{ id: "x", vector: [1, 2, 3] }]), 400, "invalid_argument");
    assert.equal(e400.message, "vectors have dimension 3; collection 'e' has dimension 2");
    assert.equal(await c.count("e"), 0); // nothing of the bad batch was stored
    assert.equal((await rejects(c.createCollection("bad", { dimension: 0 }), 400, "invalid_argument")).message,
      "'dimension' must be 1 to 65536");
    await rejects(c.createCollection("no/slash", { dimension: 2 }), 400, "invalid_argument");
    assert.equal((await rejects(c.search("e", [1, 2], { topK: 0 }), 400, "invalid_argument")).message,
      "'top_k' must be an integer from 1 to 1000");
    assert.equal((await rejects(c.scroll("e", { limit: 0 }), 400, "invalid_argument")).message, "'limit' must be 1 to 10000");
    assert.equal((await rejects(c.count("e", { eq: ["x"] } as never), 400, "invalid_argument")).message,
      "filter.eq: must be an array of two: [field, value]");
    assert.equal((await rejects(c.patchPayloads("e", { payload: { a: 1 } }), 400, "invalid_argument")).message,
      "give the points as 'ids' or as a 'filter' (one of the two)");
    assert.equal((await rejects(c.upsert("e", [{ id: -1, vector: [1, 2] }]), 400, "invalid_argument")).message,
      "points[0]: 'id' must be a string (or a non-negative integer)");
    await rejects(c.request("PUT", "/v1/collections"), 405, "method_not_allowed");
    await rejects(c.request("GET", "/v2/nothing"), 404, "route_not_found");
    await c.deleteCollection("e");

    const gone = await rejects(new Client({ url: "127.0.0.1:1", timeoutMs: 2000 }).health(), 0, "unreachable");
    assert.match(gone.message, /cannot reach http:\/\/127\.0\.0\.1:1/);
  });
});

describe("retries and timeouts", () => {
  it("sends a call again after a 503 with Retry-After, up to `retries` times", async () => {
    const busy = JSON.stringify({ error: { code: "busy", message: "the server is overloaded; retry" } });
    const fake = await fakeServer((n, res) => {
      if (n < 2) {
        res.writeHead(503, { "Content-Type": "application/json", "Retry-After": "0" }).end(busy);
      } else {
        res.writeHead(200, { "Content-Type": "application/json" }).end('{"upserted":1}');
      }
    });
    try {
      const c = new Client({ url: fake.url });
      assert.equal(await c.upsert("x", [{ id: "a", vector: [1] }]), 1);
      assert.equal(fake.requests(), 3);
    } finally {
      await fake.close();
    }

    const always = await fakeServer((_, res) => res.writeHead(503, { "Content-Type": "application/json", "Retry-After": "0" }).end(busy));
    try {
      const e = await rejects(new Client({ url: always.url, retries: 2 }).delete("x", ["a"]), 503, "busy");
      assert.equal(e.message, "the server is overloaded; retry");
      assert.equal(always.requests(), 3); // the first attempt and 2 retries
    } finally {
      await always.close();
    }

    // Without Retry-After a 503 is answered at once; other errors are never retried.
    const plain = await fakeServer((n, res) => res.writeHead(n === 0 ? 503 : 500).end("plain text"));
    try {
      const e = await rejects(new Client({ url: plain.url }).health(), 503, "");
      assert.equal(e.message, "plain text");
      await rejects(new Client({ url: plain.url }).health(), 500, "");
      assert.equal(plain.requests(), 2);
    } finally {
      await plain.close();
    }
  });

  it("gives up on a server that does not answer in time", async () => {
    const silent = await fakeServer(() => undefined);
    try {
      const started = Date.now();
      const e = await rejects(new Client({ url: silent.url, timeoutMs: 300 }).health(), 0, "timeout");
      assert.match(e.message, /within 300 ms/);
      assert.ok(Date.now() - started < 5000);
    } finally {
      await silent.close();
    }
    // Headers in time, but the body stalls: the deadline covers reading the answer too.
    const stalling = await fakeServer((_, res) => {
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "100" });
      res.write('{"status":');
    });
    try {
      await rejects(new Client({ url: stalling.url, timeoutMs: 300 }).health(), 0, "timeout");
    } finally {
      await stalling.close();
    }
  });

  it("waits out a live server's full staging", async () => {
    // Writes get 503 busy while 10 rows wait to be indexed; an idle flush after 1.5 s empties staging.
    const server = await Server.start("--staging-max-vectors", "10", "--flush-threshold", "100000", "--idle-flush-ms", "1500");
    try {
      const c = new Client({ url: server.url, retries: 10 });
      await c.createCollection("st", { dimension: 2 });
      const points = (prefix: string) => Array.from({ length: 8 }, (_, i) => ({ id: `${prefix}${i}`, vector: [i, 1] }));
      assert.equal(await c.upsert("st", points("a")), 8);
      // Staging holds 8: the next 8 are refused with Retry-After: 1 until the idle flush has run.
      await rejects(new Client({ url: server.url, retries: 0 }).upsert("st", points("b")), 503, "busy");
      assert.equal(await c.upsert("st", points("b")), 8);
      assert.equal(await c.count("st"), 16);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});

describe("API keys", () => {
  it("sends the key from the option or PUFFER_API_KEY", async () => {
    const server = await Server.start("--api-key", "full-key-0123456789", "--read-only-api-key", "read-key-0123456789");
    const saved = process.env["PUFFER_API_KEY"];
    try {
      delete process.env["PUFFER_API_KEY"];
      const anonymous = new Client({ url: server.url });
      assert.deepEqual(await anonymous.health(), { status: "ok" }); // always open
      await rejects(anonymous.listCollections(), 401, "unauthorized");
      await rejects(anonymous.metrics(), 401, "unauthorized");
      await rejects(new Client({ url: server.url, apiKey: "wrong-key-0123456789" }).listCollections(), 401, "unauthorized");
      const full = new Client({ url: server.url, apiKey: "full-key-0123456789" });
      await full.createCollection("k", { dimension: 2 });
      const reader = new Client({ url: server.url, apiKey: "read-key-0123456789" });
      assert.deepEqual((await reader.listCollections()).map((x) => x.name), ["k"]);
      await rejects(reader.upsert("k", [{ id: "a", vector: [1, 2] }]), 403, "forbidden");
      await rejects(reader.deleteByFilter("k", { exists: "x" }), 403, "forbidden");
      assert.equal(await reader.count("k"), 0);
      process.env["PUFFER_API_KEY"] = "full-key-0123456789";
      assert.equal((await new Client({ url: server.url }).stats("k")).points, 0);
      await rejects(new Client({ url: server.url, apiKey: null }).stats("k"), 401, "unauthorized");
      process.env["PUFFER_SERVER"] = server.url;
      assert.equal((await new Client().describe("k")).name, "k");
    } finally {
      delete process.env["PUFFER_SERVER"];
      if (saved === undefined) delete process.env["PUFFER_API_KEY"];
      else process.env["PUFFER_API_KEY"] = saved;
      assert.equal(await server.stop(), 0);
    }
  });
});

describe("generated types", () => {
  it("src/schema.d.ts is what openapi-typescript makes of docs/openapi.yaml", () => {
    const root = fileURLToPath(new URL("..", import.meta.url));
    const out = spawnSync("npm", ["run", "-s", "check:schema"], { cwd: root, encoding: "utf8" });
    assert.equal(out.status, 0, `src/schema.d.ts is stale; run npm run gen\n${out.stdout}${out.stderr}`);
  });
});
