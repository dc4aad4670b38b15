// The Prometheus text format (version 0.0.4) as GET /metrics writes it, and what the console
// computes from two scrapes: requests per second from the counters' growth, and latency
// quantiles from the growth of the histogram buckets. No DOM here (tests/browser imports it).

// Parses the exposition text into samples {name, labels, value}. Comments and blank lines are
// skipped; a line that does not parse is skipped too rather than failing the whole scrape.
export function parsePrometheus(text) {
    const samples = [];
    for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (line === '' || line.startsWith('#')) {
            continue;
        }
        const sample = parseLine(line);
        if (sample) {
            samples.push(sample);
        }
    }
    return samples;
}

function parseValue(text) {
    if (text === '+Inf' || text === 'Inf') {
        return Infinity;
    }
    if (text === '-Inf') {
        return -Infinity;
    }
    if (text === 'NaN') {
        return NaN;
    }
    const v = Number(text);
    return text !== '' && !Number.isNaN(v) ? v : null;
}

function parseLine(line) {
    let i = 0;
    while (i < line.length && /[A-Za-z0-9_:]/.test(line[i])) {
        i++;
    }
    const name = line.slice(0, i);
    if (name === '') {
        return null;
    }
    const labels = {};
    if (line[i] === '{') {
        i++;
        for (;;) {
            while (line[i] === ' ' || line[i] === ',') {
                i++;
            }
            if (line[i] === '}') {
                i++;
                break;
            }
            const start = i;
            while (i < line.length && /[A-Za-z0-9_]/.test(line[i])) {
                i++;
            }
            const key = line.slice(start, i);
            if (key === '' || line[i] !== '=' || line[i + 1] !== '"') {
                return null;
            }
            i += 2;
            let value = '';
            for (;;) {
                if (i >= line.length) {
                    return null;
                }
                const ch = line[i++];
                if (ch === '"') {
                    break;
                }
                if (ch === '\\') {
                    const next = line[i++];
                    value += next === 'n' ? '\n' : next;
                } else {
                    value += ch;
                }
            }
            labels[key] = value;
        }
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = parseValue(rest[0] ?? '');
    if (value === null) {
        return null;
    }
    return { name, labels, value };
}

// Routes the console does not count as traffic: its own scrapes and its own files.
const OWN_ROUTES = new Set(['/metrics', '/', '/console', '/console/{file}']);

const SEARCH_ROUTES = new Set(['/v1/collections/{name}/search', '/v1/collections/{name}/search/batch']);
const WRITE_ROUTES = new Set([
    '/v1/collections/{name}/points',
    '/v1/collections/{name}/points/delete',
    '/v1/collections/{name}/points/payload',
]);

// The group a route's requests are counted in: 'search', 'write', 'other', or null (not counted).
export function routeGroup(route) {
    if (OWN_ROUTES.has(route)) {
        return null;
    }
    if (SEARCH_ROUTES.has(route)) {
        return 'search';
    }
    if (WRITE_ROUTES.has(route)) {
        return 'write';
    }
    return 'other';
}

// 'all' is the three together.
export const GROUPS = ['search', 'write', 'other', 'all'];

// What one scrape says, reduced to what the charts and the collections table need:
//   requests[group]   total requests answered (group: one of GROUPS)
//   errors            total requests answered with a status of 400 or more (all groups)
//   buckets[group]    Map upper bound -> cumulative count, summed over routes and statuses
//   collections       Map name -> {points, segments, staging_vectors, disk_bytes, cache_hits, cache_misses, ...}
export function summarize(samples) {
    const requests = { search: 0, write: 0, other: 0, all: 0 };
    const buckets = { search: new Map(), write: new Map(), other: new Map(), all: new Map() };
    let errors = 0;
    const collections = new Map();
    const gauges = {
        puffer_collection_points: 'points',
        puffer_collection_segments: 'segments',
        puffer_collection_staging_vectors: 'staging_vectors',
        puffer_collection_tombstones: 'tombstones',
        puffer_collection_disk_bytes: 'disk_bytes',
        puffer_collection_wal_bytes: 'wal_bytes',
        puffer_collection_cache_hits_total: 'cache_hits',
        puffer_collection_cache_misses_total: 'cache_misses',
        puffer_collection_failed: 'failed',
        puffer_recall_at_k: 'recall_estimate',
    };
    for (const s of samples) {
        if (s.name === 'puffer_http_requests_total') {
            const group = routeGroup(s.labels.route);
            if (group) {
                requests[group] += s.value;
                requests.all += s.value;
                if (Number(s.labels.status) >= 400) {
                    errors += s.value;
                }
            }
        } else if (s.name === 'puffer_http_request_duration_seconds_bucket') {
            const group = routeGroup(s.labels.route);
            if (group) {
                const le = parseValue(s.labels.le);
                if (le !== null) {
                    for (const m of [buckets[group], buckets.all]) {
                        m.set(le, (m.get(le) ?? 0) + s.value);
                    }
                }
            }
        } else if (s.name in gauges && s.labels.collection !== undefined) {
            let c = collections.get(s.labels.collection);
            if (!c) {
                c = {};
                collections.set(s.labels.collection, c);
            }
            c[gauges[s.name]] = s.value;
        }
    }
    return { requests, errors, buckets, collections };
}

// Growth of a counter between two scrapes; a counter that went down was reset (the server
// restarted), so all of its current value is new.
function growth(previous, current) {
    return current >= previous ? current - previous : current;
}

// Cumulative buckets (Map le -> count) to the growth of each, sorted by bound.
export function bucketGrowth(previous, current) {
    const bounds = [...current.keys()].sort((a, b) => a - b);
    const reset = bounds.some((le) => current.get(le) < (previous.get(le) ?? 0));
    return bounds.map((le) => ({ le, count: reset ? current.get(le) : current.get(le) - (previous.get(le) ?? 0) }));
}

// The q-quantile of cumulative buckets [{le, count}] sorted by le, interpolated linearly within
// the bucket it falls in, as Prometheus' histogram_quantile does (the first bucket starts at 0;
// a quantile in the +Inf bucket is the largest finite bound). null when there is no observation.
export function histogramQuantile(q, buckets) {
    if (buckets.length === 0) {
        return null;
    }
    const total = buckets[buckets.length - 1].count;
    if (!(total > 0)) {
        return null;
    }
    const rank = q * total;
    let lowerBound = 0;
    let lowerCount = 0;
    for (const { le, count } of buckets) {
        if (count >= rank) {
            if (le === Infinity) {
                return lowerBound;
            }
            const inBucket = count - lowerCount;
            if (inBucket <= 0) {
                return le;
            }
            return lowerBound + (le - lowerBound) * ((rank - lowerCount) / inBucket);
        }
        lowerBound = le;
        lowerCount = count;
    }
    return lowerBound;
}

// One point of the charts from two summaries taken `seconds` apart:
//   qps[group], errorsPerSecond, latency[group] = {p50, p95, p99} in seconds (null: no requests)
export function rates(previous, current, seconds) {
    const qps = {};
    const latency = {};
    for (const g of GROUPS) {
        qps[g] = seconds > 0 ? growth(previous.requests[g], current.requests[g]) / seconds : 0;
        const b = bucketGrowth(previous.buckets[g], current.buckets[g]);
        latency[g] = {
            p50: histogramQuantile(0.5, b),
            p95: histogramQuantile(0.95, b),
            p99: histogramQuantile(0.99, b),
        };
    }
    const errorsPerSecond = seconds > 0 ? growth(previous.errors, current.errors) / seconds : 0;
    return { qps, errorsPerSecond, latency };
}
