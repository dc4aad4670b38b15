// The web console (net/console/) in a real browser, Debian's chromium driven by playwright-core,
// against a puffer-server this test starts with a fresh data directory and two keys.
//
//   PUFFER_SERVER_BINARY   the server (default /tmp/console-bin/puffer-server); a relative path
//                          is taken from the current directory, else from the repository root
//   PUFFER_CONSOLE_DIR     serve the console from this directory (--console-dir) instead of the
//                          copy built into the binary
//   PUFFER_SCREENSHOT_DIR  where a screenshot of each step goes (default ./screenshots)
//   PUFFER_CHROMIUM        the browser (default /usr/bin/chromium)
//
// The only network used is 127.0.0.1: the page's requests to anything else are aborted and fail
// the test.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

// The console's modules that need no DOM, imported from a copy named .mjs: net/console/ has no
// package.json saying its .js files are ES modules, and Node 18 would read them as CommonJS.
const moduleCopies = fs.mkdtempSync(path.join(os.tmpdir(), 'puffer-console-modules-'));
async function consoleModule(name) {
    const copy = path.join(moduleCopies, name.replace(/\.js$/, '.mjs'));
    fs.copyFileSync(path.join(repoRoot, 'net', 'console', name), copy);
    return import(pathToFileURL(copy).href);
}
const { bucketGrowth, histogramQuantile, parsePrometheus, rates, summarize } = await consoleModule('metrics.js');
const { fvecsSource, jsonSource } = await consoleModule('importer.js');
fs.rmSync(moduleCopies, { recursive: true, force: true });

function serverBinary() {
    const given = process.env.PUFFER_SERVER_BINARY || '/tmp/console-bin/puffer-server';
    if (path.isAbsolute(given) || fs.existsSync(given)) {
        return path.resolve(given);
    }
    return path.resolve(repoRoot, given);
}

const BINARY = serverBinary();
const CONSOLE_DIR = process.env.PUFFER_CONSOLE_DIR || '';
const SCREENSHOTS = path.resolve(process.env.PUFFER_SCREENSHOT_DIR || path.join(here, 'screenshots'));
const CHROMIUM = process.env.PUFFER_CHROMIUM || '/usr/bin/chromium';
const FULL_KEY = 'console-test-full-key';
const READ_KEY = 'console-test-read-key';
const COLLECTION = 'console_vectors';
const ROWS = 2000;
const DIM = 16;

// ---- a deterministic .fvecs file -----------------------------------------------------------

function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

function makeFvecs(rows, dim, seed) {
    const random = mulberry32(seed);
    const buffer = new ArrayBuffer(rows * (4 + 4 * dim));
    const view = new DataView(buffer);
    const vectors = [];
    let at = 0;
    for (let r = 0; r < rows; r++) {
        view.setInt32(at, dim, true);
        at += 4;
        const v = new Float32Array(dim);
        for (let j = 0; j < dim; j++) {
            v[j] = random() * 2 - 1;
            view.setFloat32(at, v[j], true);
            at += 4;
        }
        vectors.push(v);
    }
    return { bytes: Buffer.from(buffer), vectors };
}

// ---- the server ----------------------------------------------------------------------------

let tmp;
let server;
let serverLog = '';
let base;

async function waitFor(what, predicate, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await predicate();
        if (value) {
            return value;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out waiting for ${what}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
    }
}

async function startServer() {
    const portFile = path.join(tmp, 'port');
    const args = [
        '--data-dir', path.join(tmp, 'data'),
        '--bind-addr', '127.0.0.1:0',
        '--port-file', portFile,
        '--api-key', FULL_KEY,
        '--read-only-api-key', READ_KEY,
        '--shards', '2', '--net-threads', '2', '--background-threads', '1', '--cache-mb', '64',
        '--log-level', 'warn',
    ];
    if (CONSOLE_DIR) {
        args.push('--console-dir', path.resolve(CONSOLE_DIR));
    }
    server = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // However this process ends (a failed assertion, an exception, the runner's SIGTERM), the
    // server does not outlive it.
    process.once('exit', () => {
        server.kill('SIGKILL');
        fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 5 });
    });
    for (const signal of ['SIGINT', 'SIGTERM']) {
        process.once(signal, () => process.exit(1));
    }
    server.stdout.on('data', (d) => { serverLog += d; });
    server.stderr.on('data', (d) => { serverLog += d; });
    let exited = null;
    server.once('exit', (code, signal) => { exited = { code, signal }; });
    server.once('error', (e) => { exited = { error: e.message }; });
    const port = await waitFor('the server to listen', () => {
        if (exited) {
            throw new Error(`puffer-server (${BINARY}) exited at start: ${JSON.stringify(exited)}\n${serverLog}`);
        }
        try {
            const text = fs.readFileSync(portFile, 'utf8');
            return text.endsWith('\n') ? Number(text.trim()) : null;
        } catch {
            return null;
        }
    }, 20000);
    base = `http://127.0.0.1:${port}`;
}

async function stopServer() {
    if (!server || server.exitCode !== null || server.signalCode !== null) {
        return;
    }
    const gone = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 10000);
    await gone;
    clearTimeout(timer);
}

// ---- the browser ---------------------------------------------------------------------------

let browser;
let page;
const pageErrors = [];
const foreignRequests = [];
let shot = 0;

async function screenshot(name) {
    shot++;
    await page.screenshot({ path: path.join(SCREENSHOTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

const byTestId = (id) => page.locator(`[data-testid="${id}"]`);

async function text(id) {
    return (await byTestId(id).textContent()) ?? '';
}

async function useKey(key) {
    await byTestId('api-key').fill(key);
    await byTestId('api-key-save').click();
}

before(async () => {
    assert.ok(fs.existsSync(BINARY), `no server binary at ${BINARY} (set PUFFER_SERVER_BINARY)`);
    assert.ok(fs.existsSync(CHROMIUM), `no browser at ${CHROMIUM} (apt-get install chromium)`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'puffer-console-'));
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    for (const f of fs.readdirSync(SCREENSHOTS)) {
        if (/^\d\d-.*\.png$/.test(f)) {
            fs.rmSync(path.join(SCREENSHOTS, f));
        }
    }
    await startServer();
    browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--disable-default-apps', '--disable-extensions', '--no-proxy-server'],
    });
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    await context.route('**/*', (route) => {
        const url = new URL(route.request().url());
        if (url.hostname === '127.0.0.1') {
            return route.continue();
        }
        foreignRequests.push(url.href);
        return route.abort();
    });
    page = await context.newPage();
    page.setDefaultTimeout(15000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
    if (browser) {
        await browser.close();
    }
    await stopServer();
    if (serverLog.trim()) {
        console.log(`# puffer-server's log (warnings and errors):\n${serverLog.replace(/^/gm, '#   ')}`);
    }
    if (tmp) {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
});

// ---- the pure parts, without a browser -----------------------------------------------------

test('the Prometheus parser, rates and histogram quantiles', () => {
    const scrape = (n, fast, slow) => [
        '# HELP puffer_http_requests_total HTTP requests answered.',
        '# TYPE puffer_http_requests_total counter',
        `puffer_http_requests_total{route="/v1/collections/{name}/search",status="200"} ${n}`,
        `puffer_http_requests_total{route="/v1/collections/{name}/points",status="400"} ${n / 2}`,
        `puffer_http_requests_total{route="/metrics",status="200"} 1000`,
        `puffer_http_request_duration_seconds_bucket{route="/v1/collections/{name}/search",status="200",le="0.001"} ${fast}`,
        `puffer_http_request_duration_seconds_bucket{route="/v1/collections/{name}/search",status="200",le="0.01"} ${fast + slow}`,
        `puffer_http_request_duration_seconds_bucket{route="/v1/collections/{name}/search",status="200",le="+Inf"} ${fast + slow}`,
        'puffer_collection_points{collection="a\\"b"} 42',
        'garbage line {',
    ].join('\n');
    const samples = parsePrometheus(scrape(10, 5, 5));
    assert.equal(samples.length, 7);
    assert.deepEqual(samples[6], { name: 'puffer_collection_points', labels: { collection: 'a"b' }, value: 42 });
    const a = summarize(samples);
    assert.equal(a.requests.search, 10);
    assert.equal(a.requests.write, 5);
    assert.equal(a.requests.other, 0, '/metrics is not counted');
    assert.equal(a.errors, 5);
    assert.equal(a.collections.get('a"b').points, 42);
    const b = summarize(parsePrometheus(scrape(30, 15, 15)));
    const r = rates(a, b, 2);
    assert.equal(r.qps.search, 10);
    assert.equal(r.qps.write, 5);
    assert.equal(r.errorsPerSecond, 5);
    // 20 new searches: 10 under 1 ms, none between 1 and 10 ms: the median is at the first bound.
    assert.equal(r.latency.search.p50, 0.001);
    assert.equal(r.latency.write.p50, null, 'no write latency observed');
    const grown = bucketGrowth(new Map([[0.001, 0], [0.01, 0], [Infinity, 0]]),
        new Map([[0.001, 50], [0.01, 100], [Infinity, 100]]));
    assert.ok(Math.abs(histogramQuantile(0.75, grown) - 0.0055) < 1e-12);
    assert.equal(histogramQuantile(0.99, [{ le: 0.5, count: 0 }, { le: Infinity, count: 3 }]), 0.5);
    // A counter that went down is a restart: all of its value is new.
    assert.equal(rates(b, a, 1).qps.search, 10);
});

test('the .fvecs and JSON readers', () => {
    const { bytes, vectors } = makeFvecs(5, 3, 7);
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const source = fvecsSource(ab);
    assert.equal(source.count, 5);
    assert.equal(source.dimension, 3);
    const points = source.points(3, 5);
    assert.deepEqual(points.map((p) => p.id), ['3', '4']);
    assert.deepEqual(points[1].vector, Array.from(vectors[4]));
    assert.throws(() => fvecsSource(ab.slice(0, ab.byteLength - 4)), /not a whole number of rows/);
    const lines = jsonSource('{"id":1,"vector":[1,2]}\n\n{"id":"b","vector":[3,4],"payload":{"x":1}}\n', 'p.jsonl');
    assert.equal(lines.count, 2);
    assert.equal(lines.dimension, 2);
    assert.equal(jsonSource('{"points":[{"id":1,"vector":[1]}]}', 'p.json').count, 1);
    assert.equal(jsonSource('[{"id":1,"vector":[1]},{"id":2,"vector":[2]}]', 'p.json').count, 2);
    assert.throws(() => jsonSource('{"id":1}\n{oops\n', 'p.jsonl'), /line 2/);
});

// ---- the console in the browser ------------------------------------------------------------

test('the console, step by step', { timeout: 110000 }, async (t) => {
    // Each step builds on the one before: after a failure the rest are skipped, not timed out.
    let failed = null;
    const step = (name, fn) => t.test(name, async (st) => {
        if (failed) {
            st.skip(`after '${failed}' failed`);
            return;
        }
        try {
            await fn();
        } catch (e) {
            failed = name;
            await screenshot('failed').catch(() => {});
            throw e;
        }
    });
    const { bytes: fvecs, vectors } = makeFvecs(ROWS, DIM, 20251203);
    // 20 points with payloads, a quarter of them red, for the .jsonl import and the filters.
    const docs = Array.from({ length: 20 }, (_, i) => ({
        id: `doc-${i}`,
        vector: Array.from({ length: DIM }, (_, j) => ((i * 7 + j * 3) % 11) / 11 - 0.5),
        payload: { color: i % 4 === 0 ? 'red' : 'blue', n: i },
    }));
    const stored = new Map(vectors.map((v, i) => [String(i), Array.from(v)]));
    for (const d of docs) {
        stored.set(d.id, Array.from(new Float32Array(d.vector)));
    }
    const fvecsPath = path.join(tmp, 'vectors.fvecs');
    fs.writeFileSync(fvecsPath, fvecs);

    await step('without a key the page shows the 401 message', async () => {
        await page.goto(`${base}/`);
        const banner = byTestId('banner');
        await banner.waitFor({ state: 'visible' });
        await page.waitForFunction(() => document.querySelector('[data-testid="banner"]').textContent.includes('401'));
        const message = await text('banner');
        assert.match(message, /401 unauthorized/);
        assert.match(message, /an API key is required/, 'the server\'s own message is shown');
        assert.equal(await byTestId('connection').getAttribute('data-state'), 'auth');
        assert.ok(await byTestId('collections-table').isHidden());
        await screenshot('no-key');
    });

    await step('with the full key: the empty state', async () => {
        await useKey(FULL_KEY);
        await byTestId('collections-empty').waitFor({ state: 'visible' });
        assert.match(await text('collections-empty'), /No collections yet/);
        assert.match(await text('collections-empty'), /create-collection/);
        await byTestId('banner').waitFor({ state: 'hidden' });
        assert.equal(await byTestId('connection').getAttribute('data-state'), 'ok');
        await screenshot('empty');
    });

    await step('create a collection: it is listed; a bad name and a second create show the server\'s messages', async () => {
        await byTestId('create-name').fill('no spaces');
        await byTestId('create-dimension').fill(String(DIM));
        await byTestId('create-submit').click();
        await byTestId('create-error').waitFor();
        assert.equal(await text('create-error'), "400 invalid_argument: invalid collection name 'no spaces': "
            + "use 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'");

        await byTestId('create-name').fill(COLLECTION);
        await byTestId('create-dimension').fill(String(DIM));
        await byTestId('create-metric').selectOption('l2');
        await byTestId('create-quantization').selectOption('sq8');  // the rest runs on a quantized collection
        await byTestId('create-submit').click();
        const row = page.locator(`[data-testid="collection-row"][data-name="${COLLECTION}"]`);
        await row.waitFor();
        assert.equal(await row.locator('[data-testid="col-dimension"]').textContent(), String(DIM));
        assert.equal(await row.locator('[data-testid="col-metric"]').textContent(), 'l2');
        assert.equal(await row.locator('[data-testid="col-points"]').textContent(), '0');
        assert.ok(await byTestId('collections-empty').isHidden());
        await page.waitForFunction((name) =>
            document.querySelector('[data-testid="selected-name"]').textContent === name, COLLECTION);

        await byTestId('create-name').fill(COLLECTION);
        await byTestId('create-dimension').fill(String(DIM));
        await byTestId('create-submit').click();
        await byTestId('create-error').waitFor();
        assert.equal(await text('create-error'), `409 already_exists: collection '${COLLECTION}' already exists`);
        await screenshot('created');
    });

    await step(`import ${ROWS} x ${DIM} .fvecs, through a 503: the stats show ${ROWS} points`, async () => {
        // The first batch gets the answer a server with full staging gives (503 busy, Retry-After:
        // 1), made up here since a real one depends on timing; the page must wait and send again.
        let sent = 0;
        const points = `${base}/v1/collections/${COLLECTION}/points`;
        await page.route(points, (route) => {
            if (sent++ === 0) {
                return route.fulfill({
                    status: 503,
                    headers: { 'Retry-After': '1', 'Content-Type': 'application/json' },
                    body: JSON.stringify({ error: { code: 'busy', message: `collection '${COLLECTION}' staging is full; retry` } }),
                });
            }
            return route.continue();
        });
        await byTestId('import-batch').fill('1000');
        await byTestId('import-file').setInputFiles(fvecsPath);
        await byTestId('import-start').click();
        await page.waitForFunction(() =>
            document.querySelector('[data-testid="import-status"]').textContent.includes('retrying in 1 s (attempt 1)'));
        assert.match(await text('import-status'),
            /^0 of 2,000 points; the server is busy \(collection '.*' staging is full; retry\)/);
        await page.waitForFunction((n) =>
            document.querySelector('[data-testid="import-status"]').dataset.count === String(n), ROWS);
        await page.unroute(points);
        assert.equal(sent, 3, 'the refused batch was sent again, then the second one');
        assert.match(await text('import-status'), /^Imported 2,000 points from vectors\.fvecs in /);
        assert.ok(await byTestId('import-error').isHidden());
        await page.waitForFunction((n) =>
            document.querySelector('[data-testid="stats-points"]')?.dataset.value === String(n), ROWS);
        assert.equal(await text('stats-points'), '2,000');
        assert.equal(await text('stats-quantization'), 'sq8');
        assert.equal(await text('stats-dimension'), String(DIM));
        const row = page.locator(`[data-testid="collection-row"][data-name="${COLLECTION}"]`);
        await page.waitForFunction((name) => document.querySelector(
            `[data-testid="collection-row"][data-name="${name}"] [data-testid="col-points"]`).textContent === '2,000', COLLECTION);
        assert.equal(await row.locator('[data-testid="col-points"]').textContent(), '2,000');
        // The idle flush turns staging into a segment within seconds; the page follows it.
        await page.waitForFunction(() =>
            Number(document.querySelector('[data-testid="stats-segments"]')?.dataset.value) >= 1, null, { timeout: 20000 });
        assert.equal(await text('stats-staging'), '0');
        await screenshot('imported');
    });

    await step('import a .jsonl file with payloads; a file of another dimension is refused', async () => {
        const jsonlPath = path.join(tmp, 'docs.jsonl');
        fs.writeFileSync(jsonlPath, `${docs.map((d) => JSON.stringify(d)).join('\n')}\n\n`);
        await byTestId('import-file').setInputFiles(jsonlPath);
        await byTestId('import-start').click();
        await page.waitForFunction(() =>
            document.querySelector('[data-testid="import-status"]').dataset.count === '20');
        assert.match(await text('import-status'), /^Imported 20 points from docs\.jsonl/);
        await page.waitForFunction((n) =>
            document.querySelector('[data-testid="stats-points"]')?.dataset.value === String(n), ROWS + 20);
        // Checked before anything is sent.
        const wrongPath = path.join(tmp, 'wrong.jsonl');
        fs.writeFileSync(wrongPath, '{"id":"w","vector":[1,2,3]}\n');
        await byTestId('import-file').setInputFiles(wrongPath);
        await byTestId('import-start').click();
        await byTestId('import-error').waitFor();
        assert.equal(await text('import-error'),
            `wrong.jsonl holds vectors of dimension 3; collection '${COLLECTION}' has dimension ${DIM}.`);
    });

    await step('search by a stored point\'s id: that point first, at distance 0, top_k rows', async () => {
        const id = '1234';
        const topK = 12;
        await byTestId('search-topk').fill(String(topK));
        await byTestId('search-id').fill(id);
        await byTestId('search-by-id').click();
        await byTestId('search-answer').waitFor();
        const rows = page.locator('[data-testid="result-row"]');
        assert.equal(await rows.count(), topK);
        assert.equal(await rows.nth(0).locator('[data-testid="result-id"]').textContent(), id);
        assert.equal(await rows.nth(0).locator('[data-testid="result-score"]').getAttribute('data-score'), '0');
        const scores = await page.locator('[data-testid="result-score"]').evaluateAll(
            (cells) => cells.map((c) => Number(c.dataset.score)));
        for (let i = 1; i < scores.length; i++) {
            assert.ok(scores[i] >= scores[i - 1], `scores best first: ${scores}`);
        }
        // The second hit's score is the squared distance between the two stored vectors.
        const second = await rows.nth(1).locator('[data-testid="result-id"]').textContent();
        const a = stored.get(id);
        const b = stored.get(second);
        const d = a.reduce((s, x, j) => s + (x - b[j]) ** 2, 0);
        assert.ok(Math.abs(scores[1] - d) <= 1e-4 * Math.max(1, d), `score ${scores[1]} vs ${d}`);
        // The query vector the page searched with is the stored one.
        const shown = JSON.parse(await byTestId('search-vector').inputValue());
        assert.deepEqual(shown, Array.from(a));
        assert.match(await text('search-summary'), new RegExp(`^${topK} of top_k ${topK} neighbours of the vector of point '${id}'`));
        assert.ok(Number(await text('search-stat-segments')) >= 1);
        await screenshot('search-by-id');
    });

    await step('a filter narrows the answer; a bad filter and a bad vector show the server\'s messages', async () => {
        await byTestId('search-filter').fill('{"in": ["id", ["5", "6", "7"]]}');
        await byTestId('search-submit').click();
        await page.waitForFunction(() => document.querySelectorAll('[data-testid="result-row"]').length === 3);
        const ids = await page.locator('[data-testid="result-id"]').allTextContents();
        assert.deepEqual([...ids].sort(), ['5', '6', '7']);
        assert.equal(await text('search-stat-matches'), '3');
        assert.equal(await text('search-stat-exhaustive'), 'true');

        await byTestId('search-filter').fill('{"eq": ["color", "red"]}');
        await byTestId('search-submit').click();
        await page.waitForFunction(() => document.querySelectorAll('[data-testid="result-row"]').length === 5);
        const payloads = await page.locator('[data-testid="result-payload"]').allTextContents();
        assert.equal(payloads.length, 5);
        for (const p of payloads) {
            assert.equal(JSON.parse(p).color, 'red');
        }
        assert.match(await text('search-summary'), /^5 of top_k 12 neighbours of the query vector with the filter/);

        await byTestId('search-filter').fill('{"bogus": 1}');
        await byTestId('search-submit').click();
        await byTestId('search-error').waitFor();
        assert.match(await text('search-error'), /^400 invalid_argument: filter: unknown operator 'bogus'/);
        assert.ok(await byTestId('search-answer').isHidden());

        await byTestId('search-filter').fill('');
        await byTestId('search-vector').fill('1, 2, 3');
        await byTestId('search-submit').click();
        await page.waitForFunction(() =>
            document.querySelector('[data-testid="search-error"]').textContent.includes('dimension 3'));
        assert.equal(await text('search-error'),
            `400 invalid_argument: query vector has dimension 3; collection '${COLLECTION}' has dimension ${DIM}`);

        await byTestId('search-vector').fill('1, 2, x');
        await byTestId('search-submit').click();
        await page.waitForFunction(() =>
            document.querySelector('[data-testid="search-error"]').textContent.includes("'x'"));
        assert.match(await text('search-error'), /Value 2 of the query vector, 'x', is not a number/);
        await screenshot('search-errors');
    });

    await step('the recall check shows a figure in [0, 1]', async () => {
        await byTestId('recall-run').click();
        await byTestId('recall-result').waitFor();
        const value = Number(await byTestId('recall-value').getAttribute('data-value'));
        assert.ok(value >= 0 && value <= 1, `recall ${value}`);
        assert.match(await text('recall-value'), /^[01]\.\d{3}$/);
        assert.match(await text('recall-detail'), /over 25 sampled queries/);
        await screenshot('recall');
    });

    await step('the traffic chart shows the searches', async () => {
        await page.waitForFunction(() =>
            Number(document.querySelector('[data-testid="qps-search-peak"]').dataset.value) > 0, null, { timeout: 20000 });
        assert.ok(await byTestId('qps-empty').isHidden());
        assert.ok(Number(await text('qps-search-peak')) > 0);
        assert.ok(Number(await byTestId('qps-chart').getAttribute('data-samples')) >= 1);
        assert.ok(await byTestId('latency-empty').isHidden(), 'search latency was measured');
        // The chart has been drawn: some pixels are not blank.
        const inked = await page.evaluate(() => {
            const c = document.querySelector('[data-testid="qps-chart"]');
            const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < data.length; i += 4) {
                n += data[i] > 0 ? 1 : 0;
            }
            return n;
        });
        assert.ok(inked > 100, `chart pixels drawn: ${inked}`);
        await screenshot('traffic');
    });

    await step('the read-only key cannot delete: the 403 message', async () => {
        await useKey(READ_KEY);
        const row = page.locator(`[data-testid="collection-row"][data-name="${COLLECTION}"]`);
        await row.waitFor();
        await byTestId('delete').click();
        await byTestId('confirm-delete').waitFor();
        assert.equal(await text('confirm-name'), COLLECTION);
        await byTestId('confirm-ok').click();
        await byTestId('collection-error').waitFor();
        assert.match(await text('collection-error'),
            /^403 forbidden: the read-only API key may not call this route: it changes data/);
        await row.waitFor();
        await screenshot('read-only-delete');
    });

    await step('delete with the full key: the empty state again', async () => {
        await useKey(FULL_KEY);
        await byTestId('delete').click();
        await byTestId('confirm-delete').waitFor();
        await byTestId('confirm-ok').click();
        await byTestId('collections-empty').waitFor({ state: 'visible' });
        assert.equal(await page.locator('[data-testid="collection-row"]').count(), 0);
        assert.ok(await byTestId('selected-name').isHidden());
        assert.ok(await byTestId('no-selection').isHidden(), 'nothing to pick');
        await screenshot('deleted');
    });

    await step('the key is kept in the browser across a reload', async () => {
        await page.reload();
        await byTestId('collections-empty').waitFor({ state: 'visible' });
        assert.equal(await byTestId('api-key').inputValue(), FULL_KEY);
        assert.ok(await byTestId('banner').isHidden());
    });

    await step('a stopped server: the page says it cannot reach it', async () => {
        await stopServer();
        await page.waitForFunction(() =>
            document.querySelector('[data-testid="banner"]').textContent.includes('Cannot reach the server'));
        assert.equal(await byTestId('connection').getAttribute('data-state'), 'down');
        await screenshot('unreachable');
    });

    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
    assert.deepEqual(foreignRequests, [], 'no request left 127.0.0.1');
});
