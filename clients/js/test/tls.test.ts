// The client over HTTPS: a certificate made here with openssl; Node trusts it through
// NODE_EXTRA_CA_CERTS (read when a process starts, so each case runs in a child process), and a
// client that does not trust it gets an OpenPufferError that says why.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { Server } from "./server.js";

describe("https", () => {
  let server: Server;
  let dir: string;
  let cert: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "puffer-js-tls-"));
    cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
      "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    server = await Server.start("--tls-cert", cert, "--tls-key", key, "--api-key", "tls-key-1");
  });

  after(async () => {
    assert.equal(await server.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  });

  // Runs code as an ES module inside the package (so "openpuffer" resolves as for a user).
  const run = (code: string, extraEnv: Record<string, string>) => {
    const file = fileURLToPath(new URL("./tls-case.mjs", import.meta.url));
    writeFileSync(file, code);
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
      delete env["NODE_EXTRA_CA_CERTS"];
      Object.assign(env, extraEnv);
      return spawnSync(process.execPath, [file], { env, encoding: "utf8", timeout: 60_000 });
    } finally {
      rmSync(file, { force: true });
    }
  };

  const program = () => `
    import { Client, OpenPufferError } from "openpuffer";
    const c = new Client({ url: ${JSON.stringify(server.url)}, apiKey: "tls-key-1" });
    try {
      await c.createCollection("t", { dimension: 2 });
      await c.upsert("t", [{ id: "a", vector: [1, 2] }, { id: "b", vector: [5, 5] }]);
      const { results } = await c.search("t", [5, 5], { topK: 1 });
      console.log(results[0].id);
      await c.deleteCollection("t");
    } catch (e) {
      console.log(e instanceof OpenPufferError ? "OpenPufferError: " + e.message : "other: " + String(e));
      process.exit(3);
    }`;

  it("works when the certificate is trusted", () => {
    const out = run(program(), { NODE_EXTRA_CA_CERTS: cert });
    assert.equal(out.status, 0, out.stdout + out.stderr);
    assert.equal(out.stdout.trim(), "b");
  });

  it("fails with a clear error when it is not", () => {
    const out = run(program(), {});
    assert.equal(out.status, 3, out.stdout + out.stderr);
    assert.match(out.stdout, /OpenPufferError: cannot reach https:\/\/127\.0\.0\.1:\d+.*SELF_SIGNED/);
  });
});
