// OpenPufferVectorStore against a live puffer-server, with a small deterministic embedding.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { Document } from "@langchain/core/documents";
import { Embeddings } from "@langchain/core/embeddings";
import { VectorStore } from "@langchain/core/vectorstores";

import { Client, OpenPufferError } from "openpuffer";
import { OpenPufferVectorStore } from "openpuffer/langchain";
import { Server } from "./server.js";

/**
 * Bag of words hashed into 16 dimensions, plus one constant dimension so no text embeds to the
 * zero vector: texts sharing words are close, and the same text always embeds the same.
 */
class WordEmbeddings extends Embeddings {
  calls = 0;

  constructor() {
    super({});
  }

  static embed(text: string): number[] {
    const v = new Array<number>(17).fill(0);
    v[16] = 0.1;
    for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
      let h = 2166136261;
      for (const ch of word) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
      v[h % 16]! += 1;
    }
    return v;
  }

  async embedDocuments(texts: string[]): Promise<number[][]> {
    this.calls++;
    return texts.map(WordEmbeddings.embed);
  }

  async embedQuery(text: string): Promise<number[]> {
    return WordEmbeddings.embed(text);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("OpenPufferVectorStore", () => {
  let server: Server;
  let client: Client;
  const embeddings = new WordEmbeddings();

  before(async () => {
    server = await Server.start();
    client = new Client({ url: server.url });
  });

  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  it("fromTexts creates the collection and finds the nearest texts", async () => {
    const store = await OpenPufferVectorStore.fromTexts(
      ["the cat sat on the mat", "dogs chase cats in the park", "stock markets fell sharply today", "der Hund schläft"],
      [{ lang: "en", topic: "pets" }, { lang: "en", topic: "pets" }, { lang: "en", topic: "money" }, { lang: "de", topic: "pets" }],
      embeddings,
      { collectionName: "lc", url: server.url },
    );
    assert.ok(store instanceof VectorStore);
    assert.equal(store._vectorstoreType(), "openpuffer");
    const info = await client.describe("lc");
    assert.deepEqual([info.dimension, info.metric, info.points, info.unindexed_fields], [17, "cosine", 4, ["page_content"]]);

    const docs = await store.similaritySearch("a cat on a mat", 2);
    assert.equal(docs.length, 2);
    assert.equal(docs[0]!.pageContent, "the cat sat on the mat");
    assert.deepEqual(docs[0]!.metadata, { lang: "en", topic: "pets" });
    assert.match(docs[0]!.id!, UUID);

    const scored = await store.similaritySearchWithScore("stock markets", 4);
    assert.equal(scored[0]![0].pageContent, "stock markets fell sharply today");
    const scores = scored.map(([, s]) => s);
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a)); // cosine: higher is closer
    assert.ok(scores.every((s) => s <= 1 + 1e-6 && s >= -1 - 1e-6));

    // Filters are the server's filter language; metadata fields are under "metadata.".
    const german = await store.similaritySearch("the cat sat on the mat", 4, { eq: ["metadata.lang", "de"] });
    assert.deepEqual(german.map((d) => d.pageContent), ["der Hund schläft"]);
    const pets = await store.similaritySearchWithScore("markets", 4, { and: [{ eq: ["metadata.topic", "pets"] }, { ne: ["metadata.lang", "de"] }] });
    assert.deepEqual(pets.map(([d]) => d.pageContent).sort(), ["dogs chase cats in the park", "the cat sat on the mat"]);
    await assert.rejects(store.similaritySearch("x", 1, { eq: ["page_content", "x"] }), (err: unknown) => {
      assert.ok(err instanceof OpenPufferError);
      assert.equal(err.status, 400);
      assert.match(err.message, /not indexed/);
      return true;
    });

    // The payload layout the store documents.
    const stored = await client.getPoint("lc", docs[0]!.id!);
    assert.deepEqual(stored.payload, { page_content: "the cat sat on the mat", metadata: { lang: "en", topic: "pets" } });

    const retrieved = await store.asRetriever({ k: 1 }).invoke("dogs in the park");
    assert.equal(retrieved[0]!.pageContent, "dogs chase cats in the park");
  });

  it("addDocuments keeps the ids given and generates the others; delete removes them", async () => {
    const store = new OpenPufferVectorStore(embeddings, { collectionName: "ids", client });
    const calls = embeddings.calls;
    const ids = await store.addDocuments([
      new Document({ pageContent: "alpha beta", metadata: { n: 1 }, id: "doc-1" }),
      new Document({ pageContent: "gamma delta", metadata: { n: 2 } }),
    ]);
    assert.equal(embeddings.calls, calls + 1);
    assert.equal(ids[0], "doc-1");
    assert.match(ids[1]!, UUID);
    // Explicit ids win over the documents' own; an integer and its decimal string are one id.
    assert.deepEqual(await store.addDocuments([new Document({ pageContent: "epsilon", metadata: {}, id: "ignored" })], { ids: [42] }), ["42"]);
    assert.deepEqual(await store.addDocuments([new Document({ pageContent: "epsilon zeta", metadata: { n: 3 } })], { ids: ["42"] }), ["42"]);
    assert.equal(await client.count("ids"), 3);
    assert.deepEqual((await client.getPoint("ids", 42)).payload, { page_content: "epsilon zeta", metadata: { n: 3 } });
    const hit = (await store.similaritySearch("alpha beta", 1))[0]!;
    assert.deepEqual([hit.id, hit.pageContent, hit.metadata], ["doc-1", "alpha beta", { n: 1 }]);

    await store.delete({ ids: ["doc-1", 42] });
    assert.equal(await client.count("ids"), 1);
    await store.delete({ filter: { eq: ["metadata.n", 2] } });
    assert.equal(await client.count("ids"), 0);
    await store.delete({ ids: [] });
    assert.deepEqual(await store.addDocuments([]), []);
  });

  it("addVectors stores vectors as given, with the metric and payload keys chosen", async () => {
    const store = new OpenPufferVectorStore(embeddings, {
      collectionName: "vec", url: server.url, metric: "l2", contentKey: "text", metadataKey: "meta", indexContent: true,
    });
    const ids = await store.addVectors([[0, 0, 1], [0, 3, 0], [5, 0, 0]], [
      new Document({ pageContent: "near", metadata: { k: "a" } }),
      new Document({ pageContent: "middle", metadata: { k: "b" } }),
      new Document({ pageContent: "far", metadata: { k: "c" } }),
    ], { ids: ["n", "m", "f"] });
    assert.deepEqual(ids, ["n", "m", "f"]);
    const info = await client.describe("vec");
    assert.deepEqual([info.dimension, info.metric, info.unindexed_fields], [3, "l2", undefined]);
    const hits = await store.similaritySearchVectorWithScore([0, 0, 0], 3);
    assert.deepEqual(hits.map(([d, s]) => [d.pageContent, s]), [["near", 1], ["middle", 9], ["far", 25]]); // squared L2
    // The content field is indexed here, so it can be filtered on.
    const byText = await store.similaritySearchVectorWithScore([0, 0, 0], 3, { eq: ["text", "far"] });
    assert.deepEqual(byText.map(([d]) => d.metadata), [{ k: "c" }]);
    assert.deepEqual((await client.getPoint("vec", "m")).payload, { text: "middle", meta: { k: "b" } });
    await assert.rejects(store.addVectors([[1, 2, 3]], []), RangeError);
    await assert.rejects(store.addVectors([[1, 2]], [new Document({ pageContent: "x" })]), (err: unknown) =>
      err instanceof OpenPufferError && err.status === 400 && err.message === "vectors have dimension 2; collection 'vec' has dimension 3");
  });

  it("fromDocuments and fromExistingCollection share a collection", async () => {
    await OpenPufferVectorStore.fromDocuments([
      new Document({ pageContent: "red apples", metadata: { color: "red" } }),
      new Document({ pageContent: "green pears", metadata: { color: "green" } }),
    ], embeddings, { collectionName: "shared", url: server.url });
    const again = await OpenPufferVectorStore.fromExistingCollection(embeddings, { collectionName: "shared", url: server.url });
    assert.deepEqual((await again.similaritySearch("green pears", 1)).map((d) => d.metadata), [{ color: "green" }]);
    await again.addDocuments([new Document({ pageContent: "yellow bananas", metadata: { color: "yellow" } })]);
    assert.equal(await client.count("shared"), 3);
    await assert.rejects(OpenPufferVectorStore.fromExistingCollection(embeddings, { collectionName: "absent", url: server.url }),
      (err: unknown) => err instanceof OpenPufferError && err.status === 404 && err.code === "not_found");
    // Metadata for all texts at once.
    const one = await OpenPufferVectorStore.fromTexts(["one", "two"], { source: "list" }, embeddings, { collectionName: "one", client });
    assert.deepEqual((await one.similaritySearch("two", 2)).map((d) => [d.pageContent, d.metadata]), [["two", { source: "list" }], ["one", { source: "list" }]]);
  });

  it("sends the API key given", async () => {
    const keyed = await Server.start("--api-key", "lc-key-0123456789");
    try {
      const store = new OpenPufferVectorStore(embeddings, { collectionName: "k", url: keyed.url, apiKey: "lc-key-0123456789" });
      await store.addDocuments([new Document({ pageContent: "secret" })]);
      assert.equal((await store.similaritySearch("secret", 1))[0]!.pageContent, "secret");
      const anonymous = new OpenPufferVectorStore(embeddings, { collectionName: "k", url: keyed.url, apiKey: null });
      await assert.rejects(anonymous.similaritySearch("secret", 1), (err: unknown) => err instanceof OpenPufferError && err.status === 401 && err.code === "unauthorized");
    } finally {
      assert.equal(await keyed.stop(), 0);
    }
  });
});
