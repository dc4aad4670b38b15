/**
 * OpenPuffer's TypeScript client: the HTTP API of puffer-server over the global `fetch`.
 *
 *     import { Client } from "openpuffer";
 *     const c = new Client({ url: "http://127.0.0.1:8080" });
 *     await c.createCollection("docs", { dimension: 3, metric: "cosine" });
 *     await c.upsert("docs", [{ id: "a", vector: [1, 0, 0], payload: { lang: "en" } }]);
 *     const { results } = await c.search("docs", [1, 0, 0], { topK: 5, includePayload: true });
 *
 * Every failed call rejects with an OpenPufferError carrying the server's status, code and
 * message. The request and response shapes come from docs/openapi.yaml (src/schema.d.ts).
 */

import type { components } from "./schema.js";

type Schemas = components["schemas"];

export type CollectionInfo = Schemas["CollectionInfo"];
export type CollectionStats = Schemas["CollectionStats"];
export type Metric = Schemas["Metric"];
/** A metric as a create request may name it: the aliases are answered by their canonical name. */
export type MetricName = Schemas["CreateCollectionRequest"]["metric"] & string;
export type StoredPoint = Schemas["StoredPoint"];
export type SearchHit = Schemas["SearchResult"];
export type SearchStats = Schemas["SearchStats"];
export type SearchResponse = Schemas["SearchResponse"];
export type BatchSearchResponse = Schemas["BatchSearchResponse"];
export type PlannedSearchStats = BatchSearchResponse["stats"]["searches"][number];
export type GetPointsResponse = Schemas["GetPointsResponse"];
export type ScrollResponse = Schemas["ScrollResponse"];
export type RecallResponse = Schemas["RecallResponse"];
export type Health = Schemas["Health"];
export type ErrorCode = Schemas["ErrorCode"];

/** A payload: any JSON object. */
export type Payload = Record<string, unknown>;

/**
 * A point id: a string of 1 to 256 bytes, or a non-negative integer up to 2^64 - 1. The server
 * stores an integer as its decimal string, so `7`, `7n` and `"7"` are the same id, and ids
 * always come back as strings. Use a bigint or a string for integers above 2^53.
 */
export type PointId = string | number | bigint;

/** A vector: an array of numbers or a typed array (Float32Array, Float64Array, ...). */
export type VectorLike = ArrayLike<number>;

export type Scalar = string | number | boolean;
export type RangeBounds = { gt?: Scalar; gte?: Scalar; lt?: Scalar; lte?: Scalar };

/**
 * A filter expression (docs/api.md, Filters): an object with exactly one operator. A field is a
 * payload key, a dotted path into nested objects ("meta.lang"), or "id".
 */
export type Filter =
  | { and: Filter[] }
  | { or: Filter[] }
  | { not: Filter }
  | { eq: [string, Scalar] }
  | { ne: [string, Scalar] }
  | { in: [string, Scalar[]] }
  | { nin: [string, Scalar[]] }
  | { range: [string, RangeBounds] }
  | { contains: [string, Scalar] }
  | { contains_any: [string, Scalar[]] }
  | { exists: string };

export interface PointInput {
  id: PointId;
  vector: VectorLike;
  /** Absent or null: no payload. */
  payload?: Payload | null;
}

/** true: whole payloads; false: none; a list of top-level field names: only those fields. */
export type PayloadSelection = boolean | string[];

export interface SearchOptions {
  /** 1 to 1000 results (server default 10). */
  topK?: number;
  /** The probe budget (server default round(1.5 * sqrt(nlist))). */
  nprobe?: number;
  /** Instead of nprobe: the smallest budget expected to reach this recall@10 (0.5 to 0.999). */
  recallTarget?: number;
  /** A quantized collection re-scores topK * refine candidates with their floats (1 to 64; default 2). */
  refine?: number;
  /** Default false. */
  includePayload?: PayloadSelection;
  /** Only points matching this filter are answered. */
  filter?: Filter;
}

/** One search of a batch: a vector with its own options. */
export interface SearchQuery extends SearchOptions {
  vector: VectorLike;
}

/** One answer of a batch: its hits, and what the server planned for that search. */
export interface BatchSearchResult {
  results: SearchHit[];
  stats: PlannedSearchStats | Record<string, never>;
}

export interface ReadOptions {
  /** Default true. */
  includePayload?: PayloadSelection;
  /** Default false; a cosine collection answers the normalized vectors it stores. */
  includeVector?: boolean;
}

export interface ScrollOptions extends ReadOptions {
  filter?: Filter;
  /** 1 to 10000 points per page (server default 100). */
  limit?: number;
  /** The previous page's next_cursor; absent for the first page. */
  cursor?: string | null;
}

export interface CreateCollectionOptions {
  /** 1 to 65536. */
  dimension: number;
  /** Default "l2". */
  metric?: MetricName;
  /** Payload fields left out of the attribute index (stored, but not filterable). */
  unindexedFields?: string[];
  /** "sq8" / "rabitq": 8-bit / 1-bit codes beside the vectors, searched and then re-scored exactly. Default "none". */
  quantization?: "none" | "sq8" | "rabitq";
}

export interface UpsertOptions {
  /** Points per request, 1 to 100000; default UPSERT_BATCH_MAX. */
  batchSize?: number;
}

export interface PatchPayloadsRequest {
  /** The points to patch: ids or a filter, exactly one of the two. */
  ids?: PointId[];
  filter?: Filter;
  payload: Payload;
  /** "merge" (default) sets the fields given and removes those given as null; "replace" makes the payload this object. */
  mode?: "merge" | "replace";
}

export interface RecallOptions {
  numQueries?: number;
  topK?: number;
  nprobe?: number;
  recallTarget?: number;
  /** Measure with these query vectors instead of sampled stored points. */
  queries?: VectorLike[];
}

export interface ClientOptions {
  /** Default: PUFFER_SERVER, else http://127.0.0.1:8080. "host:port" means http://host:port. */
  url?: string;
  /** Sent as "Authorization: Bearer K". Default: PUFFER_API_KEY. null sends no key at all. */
  apiKey?: string | null;
  /** Per attempt, in milliseconds; default 60000. */
  timeoutMs?: number;
  /**
   * How many times a call answered 503 with Retry-After (busy, shutting_down) is sent again,
   * after the delay the server asks for; default 3. Such an answer means the server did
   * nothing, so every call is retried, writes included.
   */
  retries?: number;
  /** The longest wait between two attempts, in milliseconds; default 10000. */
  maxRetryDelayMs?: number;
  /** The fetch to use; default globalThis.fetch. */
  fetch?: typeof fetch;
}

/** The server takes up to 100000 points per upsert (docs/api.md); larger uploads are split. */
export const UPSERT_BATCH_MAX = 1000;

/** Ids of GET .../points/{id} that name another route; such points are read with POST .../points/get. */
const RESERVED_POINT_IDS = new Set(["count", "delete", "get", "payload", "scroll"]);

/**
 * A call the server refused, or could not answer. `status` is the HTTP status (0 when there was
 * no answer), `code` the error envelope's code (`unreachable` or `timeout` without an answer),
 * `message` the server's message.
 */
export class OpenPufferError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "OpenPufferError";
    this.status = status;
    this.code = code;
  }

  override toString(): string {
    return this.status ? `${this.name}: ${this.message} (HTTP ${this.status} ${this.code})` : `${this.name}: ${this.message}`;
  }
}

function environment(name: string): string | undefined {
  const process = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return process?.env?.[name];
}

function toVector(v: VectorLike): number[] {
  return Array.from(v, Number);
}

function toId(id: PointId): string | number {
  return typeof id === "bigint" ? id.toString() : id;
}

function toIds(ids: Iterable<PointId>): (string | number)[] {
  return Array.from(ids, toId);
}

function searchBody(vector: VectorLike, o: SearchOptions): Schemas["SearchRequest"] {
  const body: Schemas["SearchRequest"] = { vector: toVector(vector) };
  if (o.topK !== undefined) body.top_k = o.topK;
  if (o.nprobe !== undefined) body.nprobe = o.nprobe;
  if (o.recallTarget !== undefined) body.recall_target = o.recallTarget;
  if (o.refine !== undefined) body.refine = o.refine;
  if (o.includePayload !== undefined) body.include_payload = o.includePayload;
  if (o.filter !== undefined) body.filter = o.filter;
  return body;
}

function readFlags(o: ReadOptions): { include_payload?: PayloadSelection; include_vector?: boolean } {
  const body: { include_payload?: PayloadSelection; include_vector?: boolean } = {};
  if (o.includePayload !== undefined) body.include_payload = o.includePayload;
  if (o.includeVector !== undefined) body.include_vector = o.includeVector;
  return body;
}

function isVector(q: VectorLike | SearchQuery): q is VectorLike {
  return Array.isArray(q) || ArrayBuffer.isView(q);
}

/** Seconds, or an HTTP date; undefined when absent or unreadable. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  return Number.isNaN(when) ? undefined : Math.max(0, when - Date.now());
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One server. Calls may run concurrently. */
export class Client {
  readonly url: string;
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly maxRetryDelayMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions = {}) {
    let url = options.url ?? environment("PUFFER_SERVER") ?? "http://127.0.0.1:8080";
    if (!url.includes("://")) url = "http://" + url;
    this.url = url.replace(/\/+$/, "");
    const key = options.apiKey === undefined ? environment("PUFFER_API_KEY") : options.apiKey;
    this.apiKey = key ? key : undefined;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.retries = options.retries ?? 3;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 10_000;
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("no fetch: use Node 18 or later, or pass options.fetch");
    // Called as a plain function: a browser's fetch refuses any other `this`.
    this.fetchImpl = (input, init) => f(input, init);
  }

  // -- transport ----------------------------------------------------------------------------

  /** One call: the parsed JSON answer (or the text of a non-JSON one); rejects with OpenPufferError. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const data = body === undefined ? undefined : JSON.stringify(body);
    if (data !== undefined) headers["Content-Type"] = "application/json";
    if (this.apiKey) headers["Authorization"] = "Bearer " + this.apiKey;
    for (let attempt = 0; ; attempt++) {
      const { response, text } = await this.attempt(method, path, headers, data);
      if (response.ok) {
        const kind = response.headers.get("Content-Type") ?? "";
        return (kind.startsWith("application/json") ? JSON.parse(text) : text) as T;
      }
      const delay = response.status === 503 ? retryAfterMs(response.headers.get("Retry-After")) : undefined;
      if (delay !== undefined && attempt < this.retries) {
        await sleep(Math.min(delay, this.maxRetryDelayMs));
        continue;
      }
      throw Client.failure(response.status, text);
    }
  }

  /** One exchange, the answer read whole within timeoutMs. */
  private async attempt(method: string, path: string, headers: Record<string, string>, body: string | undefined) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    const failed = (e: unknown, what: string) => abort.signal.aborted
      ? new OpenPufferError(0, "timeout", `no answer from ${this.url} within ${this.timeoutMs} ms`, { cause: e })
      : new OpenPufferError(0, "unreachable", `${what}: ${Client.reason(e)}`, { cause: e });
    try {
      let response: Response;
      try {
        response = await this.fetchImpl(this.url + path, { method, headers, body, signal: abort.signal });
      } catch (e) {
        throw failed(e, `cannot reach ${this.url}`);
      }
      try {
        return { response, text: await response.text() };
      } catch (e) {
        throw failed(e, `the answer from ${this.url} broke off`);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  private static reason(e: unknown): string {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? (e as Error).message;
  }

  private static failure(status: number, text: string): OpenPufferError {
    try {
      const envelope = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      const e = envelope.error;
      if (e && typeof e.code === "string" && typeof e.message === "string") return new OpenPufferError(status, e.code, e.message);
    } catch {
      // not an error envelope: answered as text below
    }
    return new OpenPufferError(status, "", text || `HTTP ${status}`);
  }

  private static path(name: string, rest = ""): string {
    return "/v1/collections/" + encodeURIComponent(name) + rest;
  }

  // -- server ---------------------------------------------------------------------------------

  health(): Promise<Health> {
    return this.request("GET", "/healthz");
  }

  /** The Prometheus text exposition. */
  metrics(): Promise<string> {
    return this.request("GET", "/metrics");
  }

  // -- collections ----------------------------------------------------------------------------

  async listCollections(): Promise<CollectionInfo[]> {
    return (await this.request<Schemas["CollectionList"]>("GET", "/v1/collections")).collections;
  }

  createCollection(name: string, options: CreateCollectionOptions): Promise<CollectionInfo> {
    const body: Schemas["CreateCollectionRequest"] = { name, dimension: options.dimension };
    if (options.metric !== undefined) body.metric = options.metric;
    if (options.unindexedFields !== undefined) body.unindexed_fields = options.unindexedFields;
    if (options.quantization !== undefined) body.quantization = options.quantization;
    return this.request("POST", "/v1/collections", body);
  }

  describe(name: string): Promise<CollectionInfo> {
    return this.request("GET", Client.path(name));
  }

  deleteCollection(name: string): Promise<Schemas["DeleteCollectionResponse"]> {
    return this.request("DELETE", Client.path(name));
  }

  stats(name: string): Promise<CollectionStats> {
    return this.request("GET", Client.path(name, "/stats"));
  }

  flush(name: string): Promise<Schemas["FlushResponse"]> {
    return this.request("POST", Client.path(name, "/flush"));
  }

  compact(name: string): Promise<Schemas["CompactResponse"]> {
    return this.request("POST", Client.path(name, "/compact"));
  }

  // -- writes ---------------------------------------------------------------------------------

  /**
   * Writes points in batches of `batchSize`; resolves to how many were sent. Each batch is
   * atomic and durable when its call returns; a failed batch rejects, and the batches before it
   * stay written.
   */
  async upsert(name: string, points: Iterable<PointInput> | AsyncIterable<PointInput>, options: UpsertOptions = {}): Promise<number> {
    const size = options.batchSize ?? UPSERT_BATCH_MAX;
    if (!Number.isInteger(size) || size < 1 || size > 100_000) throw new RangeError(`batchSize must be 1 to 100000, not ${size}`);
    let batch: Schemas["Point"][] = [];
    let sent = 0;
    const post = async () => {
      await this.request("POST", Client.path(name, "/points"), { points: batch } satisfies Schemas["UpsertRequest"]);
      sent += batch.length;
      batch = [];
    };
    for await (const p of points) {
      const point: Schemas["Point"] = { id: toId(p.id), vector: toVector(p.vector) };
      if (p.payload !== undefined && p.payload !== null) point.payload = p.payload;
      batch.push(point);
      if (batch.length >= size) await post();
    }
    if (batch.length > 0) await post();
    return sent;
  }

  /** ids and vectors side by side, payloads optional (null for none). */
  upsertVectors(name: string, ids: PointId[], vectors: VectorLike[], payloads?: (Payload | null | undefined)[], options: UpsertOptions = {}): Promise<number> {
    if (ids.length !== vectors.length) throw new RangeError(`${ids.length} ids for ${vectors.length} vectors`);
    if (payloads && payloads.length !== ids.length) throw new RangeError(`${payloads.length} payloads for ${ids.length} ids`);
    const points = ids.map((id, i) => ({ id, vector: vectors[i]!, payload: payloads?.[i] ?? null }));
    return this.upsert(name, points, options);
  }

  /** Deletes points by id; resolves to how many of them existed. */
  async delete(name: string, ids: PointId[]): Promise<number> {
    const body: Schemas["DeletePointsRequest"] = { ids: toIds(ids) };
    return (await this.request<Schemas["DeletePointsResponse"]>("POST", Client.path(name, "/points/delete"), body)).deleted;
  }

  /** Deletes every point the filter matches, as one write; resolves to how many there were. */
  async deleteByFilter(name: string, filter: Filter): Promise<number> {
    const body: Schemas["DeletePointsRequest"] = { filter };
    return (await this.request<Schemas["DeletePointsResponse"]>("POST", Client.path(name, "/points/delete"), body)).deleted;
  }

  /** Sets (merge) or replaces the payloads of the points chosen by ids or by a filter; resolves to how many changed. */
  async patchPayloads(name: string, patch: PatchPayloadsRequest): Promise<number> {
    const body: Record<string, unknown> = { payload: patch.payload };
    if (patch.ids !== undefined) body["ids"] = toIds(patch.ids);
    if (patch.filter !== undefined) body["filter"] = patch.filter;
    if (patch.mode !== undefined) body["mode"] = patch.mode;
    const answer = await this.request<Schemas["PatchPayloadsResponse"]>("POST", Client.path(name, "/points/payload"), body as Schemas["PatchPayloadsRequest"]);
    return answer.updated;
  }

  // -- reads ----------------------------------------------------------------------------------

  /**
   * One point, or a rejection with 404 not_found when no live point has this id. The ids that
   * name another route (count, delete, get, payload, scroll) are read through getPoints.
   */
  async getPoint(name: string, id: PointId, options: ReadOptions = {}): Promise<StoredPoint> {
    const key = String(toId(id));
    // GET .../points/{id} takes neither those ids nor a list of payload fields.
    if (key === "" || RESERVED_POINT_IDS.has(key) || Array.isArray(options.includePayload)) {
      const { points } = await this.getPoints(name, [key], options);
      if (points[0]) return points[0];
      throw new OpenPufferError(404, "not_found", `no point '${key}'`);
    }
    const query: string[] = [];
    if (options.includeVector !== undefined) query.push(`include_vector=${options.includeVector}`);
    if (options.includePayload !== undefined) query.push(`include_payload=${options.includePayload}`);
    const q = query.length ? "?" + query.join("&") : "";
    return this.request("GET", Client.path(name, "/points/" + encodeURIComponent(key) + q));
  }

  /** The live points with these ids (in the order asked, each once), and the ids no live point has. */
  getPoints(name: string, ids: PointId[], options: ReadOptions = {}): Promise<GetPointsResponse> {
    const body: Schemas["GetPointsRequest"] = { ids: toIds(ids), ...readFlags(options) };
    return this.request("POST", Client.path(name, "/points/get"), body);
  }

  /** One page of points in id order; pass its next_cursor as the next page's cursor. */
  scroll(name: string, options: ScrollOptions = {}): Promise<ScrollResponse> {
    const body: Schemas["ScrollRequest"] = readFlags(options);
    if (options.filter !== undefined) body.filter = options.filter;
    if (options.limit !== undefined) body.limit = options.limit;
    if (options.cursor !== undefined && options.cursor !== null) body.cursor = options.cursor;
    return this.request("POST", Client.path(name, "/points/scroll"), body);
  }

  /** Every page of a scroll, from options.cursor (or the start) to the end. */
  async *scrollPages(name: string, options: ScrollOptions = {}): AsyncGenerator<ScrollResponse, void, undefined> {
    let cursor = options.cursor ?? null;
    for (;;) {
      const page = await this.scroll(name, { ...options, cursor });
      yield page;
      if (page.next_cursor === null) return;
      cursor = page.next_cursor;
    }
  }

  /**
   * Every point (matching options.filter, if given), in id order, a page at a time. A point live
   * for the whole scroll is answered exactly once, whatever writes happen meanwhile.
   */
  async *scrollAll(name: string, options: ScrollOptions = {}): AsyncGenerator<StoredPoint, void, undefined> {
    for await (const page of this.scrollPages(name, options)) yield* page.points;
  }

  /** The live points (matching the filter, if given), exact. */
  async count(name: string, filter?: Filter): Promise<number> {
    const body: Schemas["CountRequest"] = filter === undefined ? {} : { filter };
    return (await this.request<Schemas["CountResponse"]>("POST", Client.path(name, "/points/count"), body)).count;
  }

  // -- search ---------------------------------------------------------------------------------

  /** The nearest points, best first, and what the search did. */
  search(name: string, vector: VectorLike, options: SearchOptions = {}): Promise<SearchResponse> {
    return this.request("POST", Client.path(name, "/search"), searchBody(vector, options));
  }

  /**
   * Up to 1000 searches in one call, answered in order. Each query is a vector (taking
   * `defaults`) or a SearchQuery (its own options over `defaults`). Each answer's stats are
   * what was planned for that search.
   */
  async searchBatch(name: string, queries: (VectorLike | SearchQuery)[], defaults: SearchOptions = {}): Promise<BatchSearchResult[]> {
    const searches = queries.map((q) => (isVector(q) ? searchBody(q, defaults) : searchBody(q.vector, { ...defaults, ...q })));
    const answer = await this.request<BatchSearchResponse>("POST", Client.path(name, "/search/batch"), { searches } satisfies Schemas["BatchSearchRequest"]);
    const planned = answer.stats?.searches ?? [];
    return answer.results.map((results, i) => ({ results, stats: planned[i] ?? {} }));
  }

  /** Measures the recall of the collection's searches now, against exhaustive ones. */
  recall(name: string, options: RecallOptions = {}): Promise<RecallResponse> {
    const body: Schemas["RecallRequest"] = {};
    if (options.numQueries !== undefined) body.num_queries = options.numQueries;
    if (options.topK !== undefined) body.top_k = options.topK;
    if (options.nprobe !== undefined) body.nprobe = options.nprobe;
    if (options.recallTarget !== undefined) body.recall_target = options.recallTarget;
    if (options.queries !== undefined) body.queries = options.queries.map(toVector);
    return this.request("POST", Client.path(name, "/recall"), body);
  }
}
