/**
 * A LangChain.js vector store on an OpenPuffer collection.
 *
 *     import { OpenPufferVectorStore } from "openpuffer/langchain";
 *     const store = await OpenPufferVectorStore.fromTexts(texts, metadatas, embeddings,
 *         { collectionName: "notes", url: "http://127.0.0.1:8080" });
 *     const docs = await store.similaritySearch("query", 4, { eq: ["metadata.lang", "en"] });
 *
 * Each document is one point. Its payload holds the page content under `contentKey` (default
 * "page_content") and the metadata object under `metadataKey` (default "metadata"), so a filter
 * names a metadata field by its dotted path: "metadata.lang". A collection the store creates
 * leaves the content field out of the attribute index (unindexed_fields), since text is not
 * filtered on. Document ids are point ids, used as given (any string of 1 to 256 bytes; a
 * numeric string is the same id as that integer); documents without one get a random UUID.
 */

import type { EmbeddingsInterface } from "@langchain/core/embeddings";
import { Document, type DocumentInterface } from "@langchain/core/documents";
import { VectorStore } from "@langchain/core/vectorstores";

import { Client, OpenPufferError, type ClientOptions, type Filter, type MetricName, type Payload, type SearchHit } from "./index.js";

export interface OpenPufferVectorStoreArgs extends ClientOptions {
  /** The collection the documents go in. */
  collectionName: string;
  /** A client to use instead of one made from the ClientOptions fields. */
  client?: Client;
  /** The metric of a collection the store creates; default "cosine". */
  metric?: MetricName;
  /** The payload field holding the page content; default "page_content". */
  contentKey?: string;
  /** The payload field holding the metadata object; default "metadata". */
  metadataKey?: string;
  /** Index the content field for filters too, in a collection the store creates; default false. */
  indexContent?: boolean;
  /** Points per upsert request (default the client's UPSERT_BATCH_MAX). */
  batchSize?: number;
}

export interface AddOptions {
  /** One id per document, taking precedence over the documents' own ids. */
  ids?: (string | number | bigint)[];
}

export type DeleteParams = { ids: (string | number | bigint)[] } | { filter: Filter };

async function randomId(): Promise<string> {
  const webCrypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (webCrypto?.randomUUID) return webCrypto.randomUUID();
  // A runtime without the Web Crypto global.
  const specifier = "node:crypto";
  const nodeCrypto = (await import(specifier)) as { randomUUID: () => string };
  return nodeCrypto.randomUUID();
}

export class OpenPufferVectorStore extends VectorStore {
  declare FilterType: Filter;

  readonly client: Client;
  readonly collectionName: string;
  readonly metric: MetricName;
  readonly contentKey: string;
  readonly metadataKey: string;
  readonly indexContent: boolean;
  readonly batchSize: number | undefined;
  private ready: Promise<void> | undefined;

  _vectorstoreType(): string {
    return "openpuffer";
  }

  constructor(embeddings: EmbeddingsInterface, args: OpenPufferVectorStoreArgs) {
    super(embeddings, args);
    const { collectionName, client, metric, contentKey, metadataKey, indexContent, batchSize, ...clientOptions } = args;
    if (!collectionName) throw new TypeError("collectionName is required");
    this.client = client ?? new Client(clientOptions);
    this.collectionName = collectionName;
    this.metric = metric ?? "cosine";
    this.contentKey = contentKey ?? "page_content";
    this.metadataKey = metadataKey ?? "metadata";
    if (this.contentKey === this.metadataKey) throw new TypeError("contentKey and metadataKey must differ");
    this.indexContent = indexContent ?? false;
    this.batchSize = batchSize;
  }

  /** Creates the collection, with the dimension of the first vectors, unless it exists. */
  private ensureCollection(dimension: number): Promise<void> {
    this.ready ??= (async () => {
      try {
        await this.client.describe(this.collectionName);
      } catch (e) {
        if (!(e instanceof OpenPufferError && e.status === 404)) throw e;
        try {
          await this.client.createCollection(this.collectionName, {
            dimension,
            metric: this.metric,
            unindexedFields: this.indexContent ? [] : [this.contentKey],
          });
        } catch (e2) {
          if (!(e2 instanceof OpenPufferError && e2.code === "already_exists")) throw e2;
        }
      }
    })().catch((e) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  /** Stores the documents with these embeddings; resolves to their ids. */
  async addVectors(vectors: number[][], documents: DocumentInterface[], options: AddOptions = {}): Promise<string[]> {
    if (vectors.length !== documents.length) throw new RangeError(`${vectors.length} vectors for ${documents.length} documents`);
    if (options.ids && options.ids.length !== documents.length) throw new RangeError(`${options.ids.length} ids for ${documents.length} documents`);
    if (documents.length === 0) return [];
    await this.ensureCollection(vectors[0]!.length);
    const ids: string[] = [];
    for (const [i, doc] of documents.entries()) {
      const given = options.ids?.[i] ?? doc.id;
      ids.push(given === undefined || given === null || given === "" ? await randomId() : String(given));
    }
    const points = documents.map((doc, i) => ({
      id: ids[i]!,
      vector: vectors[i]!,
      payload: { [this.contentKey]: doc.pageContent, [this.metadataKey]: doc.metadata ?? {} } as Payload,
    }));
    await this.client.upsert(this.collectionName, points, this.batchSize === undefined ? {} : { batchSize: this.batchSize });
    return ids;
  }

  /** Embeds the documents' page content with the store's embeddings and stores them. */
  async addDocuments(documents: DocumentInterface[], options: AddOptions = {}): Promise<string[]> {
    const vectors = await this.embeddings.embedDocuments(documents.map((d) => d.pageContent));
    return this.addVectors(vectors, documents, options);
  }

  /**
   * The k nearest documents with their scores, best first, only those matching the filter if one
   * is given. The score is the server's: cosine similarity (higher is closer) for "cosine", the
   * dot product for "ip", the squared Euclidean distance (lower is closer) for "l2".
   */
  async similaritySearchVectorWithScore(query: number[], k: number, filter?: this["FilterType"]): Promise<[DocumentInterface, number][]> {
    const answer = await this.client.search(this.collectionName, query, { topK: k, includePayload: true, ...(filter ? { filter } : {}) });
    return answer.results.map((hit) => [this.toDocument(hit), hit.score]);
  }

  private toDocument(hit: SearchHit): Document {
    const payload = (hit.payload ?? {}) as Payload;
    const content = payload[this.contentKey];
    const metadata = payload[this.metadataKey];
    return new Document({
      id: hit.id,
      pageContent: typeof content === "string" ? content : "",
      metadata: metadata !== null && typeof metadata === "object" && !Array.isArray(metadata) ? (metadata as Record<string, unknown>) : {},
    });
  }

  /** Deletes documents by id, or every document a filter matches. */
  override async delete(params: DeleteParams): Promise<void> {
    if ("ids" in params) {
      if (params.ids.length > 0) await this.client.delete(this.collectionName, params.ids);
    } else if ("filter" in params) {
      await this.client.deleteByFilter(this.collectionName, params.filter);
    } else {
      throw new TypeError("delete takes { ids } or { filter }");
    }
  }

  /** A store on a collection that exists; rejects with 404 not_found if it does not. */
  static async fromExistingCollection(embeddings: EmbeddingsInterface, args: OpenPufferVectorStoreArgs): Promise<OpenPufferVectorStore> {
    const store = new OpenPufferVectorStore(embeddings, args);
    await store.client.describe(store.collectionName);
    store.ready = Promise.resolve();
    return store;
  }

  /** Embeds and stores the texts, each with its metadata (one object for all, or one per text). */
  static override async fromTexts(texts: string[], metadatas: object[] | object, embeddings: EmbeddingsInterface, args: OpenPufferVectorStoreArgs): Promise<OpenPufferVectorStore> {
    const docs = texts.map((pageContent, i) => new Document({
      pageContent,
      metadata: (Array.isArray(metadatas) ? metadatas[i] ?? {} : metadatas) as Record<string, unknown>,
    }));
    return OpenPufferVectorStore.fromDocuments(docs, embeddings, args);
  }

  /** Embeds and stores the documents. */
  static override async fromDocuments(docs: DocumentInterface[], embeddings: EmbeddingsInterface, args: OpenPufferVectorStoreArgs): Promise<OpenPufferVectorStore> {
    const store = new OpenPufferVectorStore(embeddings, args);
    await store.addDocuments(docs);
    return store;
  }
}
