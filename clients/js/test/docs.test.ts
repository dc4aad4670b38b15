// The TypeScript and LangChain.js examples of docs/clients.md, run as they are against a live
// server (PUFFER_SERVER points them at it).

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { Server } from "./server.js";

const doc = readFileSync(fileURLToPath(new URL("../../../docs/clients.md", import.meta.url)), "utf8");

/** The ```ts blocks of the section under this heading. */
function examples(heading: string): string[] {
  const start = doc.indexOf("\n## " + heading);
  assert.ok(start >= 0, `docs/clients.md has no section "${heading}"`);
  const end = doc.indexOf("\n## ", start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe("docs/clients.md", () => {
  let server: Server;

  before(async () => {
    server = await Server.start();
  });

  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  const run = (code: string, name: string) => {
    // Inside the package, so that "openpuffer" and @langchain/core resolve as they would for a user.
    const file = fileURLToPath(new URL(`./${name}.mjs`, import.meta.url));
    writeFileSync(file, code);
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, PUFFER_SERVER: server.url };
      delete env["PUFFER_API_KEY"];
      const out = spawnSync(process.execPath, [file], { env, encoding: "utf8", timeout: 60_000 });
      assert.equal(out.status, 0, out.stderr);
      return out.stdout;
    } finally {
      rmSync(file, { force: true });
    }
  };

  it("the TypeScript example runs", () => {
    const blocks = examples("TypeScript");
    assert.equal(blocks.length, 1);
    const out = run(blocks[0]!, "docs-typescript");
    assert.match(out, /^a 0\.99\d* \{ lang: 'en' \}$/m);
    assert.match(out, /^1$/m);
    assert.match(out, /^404 not_found collection 'nope' does not exist$/m);
  });

  it("the LangChain.js example runs", () => {
    const blocks = examples("LangChain.js");
    assert.equal(blocks.length, 1);
    const out = run(blocks[0]!, "docs-langchain");
    assert.equal(out, "puffer fish live in warm seas 1\n{ topic: 'databases' }\n");
  });
});
