// A live puffer-server for the tests: the binary named by PUFFER_SERVER_BINARY, on a free port
// (it picks one and writes it to a port file), in a temporary data directory removed on stop.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BINARY = process.env["PUFFER_SERVER_BINARY"] ?? "build/apps/puffer-server";

const running = new Set<ChildProcess>();
// Should a test file die before its servers are stopped, take them down with it.
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Server {
  readonly url: string;
  private readonly child: ChildProcess;
  private readonly dir: string;
  private readonly exited: Promise<number | null>;

  private constructor(url: string, child: ChildProcess, dir: string, exited: Promise<number | null>) {
    this.url = url;
    this.child = child;
    this.dir = dir;
    this.exited = exited;
  }

  static async start(...args: string[]): Promise<Server> {
    const dir = mkdtempSync(join(tmpdir(), "puffer-js-"));
    const portFile = join(dir, "port");
    const logPath = join(dir, "server.log");
    const log = openSync(logPath, "w");
    const child = spawn(BINARY, ["--data-dir", join(dir, "data"), "--bind-addr", "127.0.0.1:0", "--port-file", portFile,
      "--shards", "2", "--cache-mb", "64", "--log-level", "warn", ...args], { stdio: ["ignore", log, log] });
    closeSync(log);
    running.add(child);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => { running.delete(child); resolve(code); }));
    let gone = false;
    void exited.then(() => { gone = true; });
    const fail = (why: string) => {
      const text = existsSync(logPath) ? readFileSync(logPath, "utf8") : "";
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      return new Error(`puffer-server (${BINARY}) ${why}: ${text}`);
    };
    const deadline = Date.now() + 60_000;
    let port = "";
    while (!port) {
      if (gone) throw fail("exited at start");
      if (Date.now() > deadline) throw fail("did not start within 60 s");
      if (existsSync(portFile)) port = readFileSync(portFile, "utf8").trim();
      if (!port) await sleep(20);
    }
    // A TLS server (--tls-cert) answers plain HTTP with a 400 that says so: then it is up.
    const tls = args.includes("--tls-cert");
    const url = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/healthz`);
        await r.text();
        if (r.ok || (tls && r.status === 400)) break;
      } catch {
        // not listening yet
      }
      if (gone) throw fail("exited at start");
      if (Date.now() > deadline) throw fail("did not answer /healthz within 60 s");
      await sleep(20);
    }
    return new Server(url, child, dir, exited);
  }

  /** SIGTERM, then the exit code (0 after a graceful shutdown); the data directory is removed. */
  async stop(): Promise<number | null> {
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 60_000);
    const code = await this.exited;
    clearTimeout(timer);
    rmSync(this.dir, { recursive: true, force: true });
    return code;
  }
}
