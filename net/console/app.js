// The OpenPuffer web console: collections and their stats, import, search, recall, and live
// traffic from /metrics. Plain ES modules, no build step; every call is one of docs/api.md.

import { ApiError, apiKey, call, collectionPath, storeKey, storedKey } from './api.js';
import { ImportError, readFile, upload } from './importer.js';
import { initSearch, resetSearch } from './search.js';
import { pollMetricsNow, startTraffic } from './traffic.js';
import { $, bytes, cacheFigure, clearBanner, connected, count, element, globalError, setBanner, showError } from './ui.js';

const state = {
    collections: null, // the list's summaries, once loaded
    figures: new Map(), // name -> the latest table figures (from stats or the /metrics gauges)
    stats: null, // the selected collection's stats answer
    statsTime: null,
    selected: null,
    lastLoad: { signature: '', time: 0 },
};

function renderKeyState() {
    $('key-state').textContent = apiKey() ? 'key stored in this browser' : 'no key';
}

// ---- collections ---------------------------------------------------------------------------

function mergeFigures(name, values) {
    const f = state.figures.get(name) ?? {};
    Object.assign(f, values);
    state.figures.set(name, f);
}

// Lists the collections (and their stats). Loads run one at a time; a call while one runs gets
// one more load after it (shared by every call meanwhile), so what it sees is never older than
// the call.
let loadRunning = null;
let loadQueued = null;

function loadCollections() {
    if (loadQueued) {
        return loadQueued;
    }
    if (!loadRunning) {
        loadRunning = listCollections().finally(() => {
            loadRunning = null;
        });
        return loadRunning;
    }
    loadQueued = loadRunning.then(() => {
        loadQueued = null;
        return loadCollections();
    });
    return loadQueued;
}

async function listCollections() {
    try {
        const answer = await call('GET', '/v1/collections');
        connected();
        state.collections = answer.collections;
        state.lastLoad = { signature: signature(answer.collections.map((c) => c.name)), time: Date.now() };
        const names = new Set(answer.collections.map((c) => c.name));
        for (const name of [...state.figures.keys()]) {
            if (!names.has(name)) {
                state.figures.delete(name);
            }
        }
        for (const c of answer.collections) {
            mergeFigures(c.name, c);
        }
        // Stats for the table's other figures (the /metrics gauges keep them current after).
        await Promise.all(answer.collections.slice(0, 64).map(async (c) => {
            try {
                mergeFigures(c.name, await call('GET', `${collectionPath(c.name)}/stats`));
            } catch {
                // A collection deleted meanwhile, say: its row keeps what the list said.
            }
        }));
        if (state.selected && !names.has(state.selected)) {
            select(null);
        } else if (!state.selected) {
            const wanted = decodeURIComponent(location.hash.slice(1));
            if (wanted && names.has(wanted)) {
                select(wanted);
            }
        }
        $('collections-loading').hidden = true;
    } catch (e) {
        if (!globalError(e)) {
            setBanner('error', `Listing the collections failed: ${e.describe ? e.describe() : e.message}`);
        }
        if (e instanceof ApiError && e.status === 401) {
            // Without a key the page shows nothing the server holds, not even what it showed before.
            state.collections = null;
            state.figures.clear();
            state.stats = null;
        }
        $('collections-loading').hidden = true;
    }
    renderCollections();
    renderSelection();
}

// The selected collection's panel shows once the list is loaded (a key was accepted).
function renderSelection() {
    const shown = state.selected !== null && state.collections !== null;
    const none = document.getElementById('no-selection');
    none.hidden = shown || state.collections?.length === 0;
    none.textContent = state.collections === null
        ? 'The collections show here once the server accepts the API key.'
        : 'Pick a collection to see its segments and cache, import points, search it and check its recall.';
    document.getElementById('selection').hidden = !shown;
}

function signature(names) {
    return [...names].sort().join('\u0000');
}

function renderCollections() {
    const table = $('collections-table');
    const empty = $('collections-empty');
    const body = document.getElementById('collections-body');
    if (state.collections === null) {
        table.hidden = true;
        empty.hidden = true;
        return;
    }
    if (state.collections.length === 0) {
        table.hidden = true;
        empty.hidden = false;
        body.replaceChildren();
        return;
    }
    empty.hidden = true;
    table.hidden = false;
    const rows = state.collections.map((c) => {
        const f = { ...c, ...(state.figures.get(c.name) ?? {}) };
        // A button for the keyboard; a click anywhere on the row selects too.
        const nameButton = element('button', { type: 'button', class: 'link', testid: 'select-collection', textContent: c.name });
        const failed = f.status === 'failed' || f.failed === 1;
        const nameCell = element('td', {}, nameButton);
        if (failed) {
            nameCell.append(element('span', { class: 'badge bad', testid: 'col-failed', textContent: 'failed', title: f.failure ?? '' }));
        }
        const row = element('tr', { testid: 'collection-row', 'data-name': c.name },
            nameCell,
            element('td', {},
                element('span', { testid: 'col-dimension', textContent: count(f.dimension) }), ' · ',
                element('span', { testid: 'col-metric', textContent: f.metric })),
            element('td', { class: 'num', testid: 'col-points', textContent: count(f.points) }),
            element('td', { class: 'num', testid: 'col-segments', textContent: count(f.segments) }),
            element('td', { class: 'num', testid: 'col-staging', textContent: count(f.staging_vectors) }),
            element('td', { class: 'num', testid: 'col-disk', textContent: bytes(f.disk_bytes) }),
            element('td', { class: 'num', testid: 'col-cache', textContent: cacheFigure(f) }));
        if (c.name === state.selected) {
            row.classList.add('selected');
        }
        row.addEventListener('click', () => select(c.name));
        return row;
    });
    body.replaceChildren(...rows);
}

async function createCollection(event) {
    event.preventDefault();
    const form = event.target;
    const button = $('create-submit');
    showError('create-error', null);
    const name = form.elements.name.value.trim();
    const request = {
        name,
        dimension: Number(form.elements.dimension.value),
        metric: form.elements.metric.value,
    };
    if (form.elements.quantization.value !== 'none') {
        request.quantization = form.elements.quantization.value;
    }
    const unindexed = form.elements.unindexed.value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (unindexed.length) {
        request.unindexed_fields = unindexed;
    }
    button.disabled = true;
    try {
        await call('POST', '/v1/collections', request);
        form.reset();
        await loadCollections();
        select(name);
    } catch (e) {
        globalError(e);
        showError('create-error', e);
    } finally {
        button.disabled = false;
    }
}

// ---- the selected collection ---------------------------------------------------------------

function select(name) {
    if (name !== state.selected) {
        state.stats = null;
        state.statsTime = null;
        showError('collection-error', null);
        showError('import-error', null);
        $('collection-note').hidden = true;
        $('import-status').textContent = '';
        $('import-progress').hidden = true;
        resetSearch();
    }
    state.selected = name;
    history.replaceState(null, '', name ? `#${encodeURIComponent(name)}` : location.pathname);
    renderSelection();
    if (name !== null) {
        $('selected-name').textContent = name;
        renderFigures();
        refreshStats();
    }
    renderCollections();
}

let statsAsked = 0;

async function refreshStats() {
    const name = state.selected;
    if (!name) {
        return;
    }
    const asked = ++statsAsked;
    try {
        const stats = await call('GET', `${collectionPath(name)}/stats`);
        connected();
        // Another collection was picked, or a later read was asked for (answers can cross).
        if (state.selected !== name || asked !== statsAsked) {
            return;
        }
        state.stats = stats;
        state.statsTime = new Date();
        mergeFigures(name, stats);
        renderFigures();
        renderCollections();
    } catch (e) {
        if (!globalError(e)) {
            showError('collection-error', e);
        }
        if (e instanceof ApiError && e.status === 404) {
            loadCollections();
        }
    }
}

function renderFigures() {
    const dl = $('figures');
    const s = state.stats;
    $('stats-time').textContent = state.statsTime ? `as of ${state.statsTime.toLocaleTimeString()}` : '';
    if (!s) {
        dl.replaceChildren(element('dt', { textContent: 'Loading…' }));
        return;
    }
    const items = [
        ['Points', count(s.points), 'stats-points', s.points],
        ['Dimension', count(s.dimension), 'stats-dimension', s.dimension],
        ['Metric', s.metric, 'stats-metric', s.metric],
        ['Codes', s.quantization ?? 'none', 'stats-quantization', s.quantization ?? 'none'],
        ['Status', s.status === 'failed' ? `failed: ${s.failure ?? ''}` : s.status, 'stats-status', s.status],
        ['Segments', count(s.segments), 'stats-segments', s.segments],
        ['Clusters (current table)', count(s.clusters), 'stats-clusters', s.clusters],
        ['Centroid tables', count(s.centroid_tables), 'stats-centroid-tables', s.centroid_tables],
        ['Staging rows', `${count(s.staging_vectors)}${s.flushing_vectors ? ` (${count(s.flushing_vectors)} being flushed)` : ''}`,
            'stats-staging', s.staging_vectors],
        ['Tombstones', count(s.tombstones), 'stats-tombstones', s.tombstones],
        ['Disk', `${bytes(s.disk_bytes)} (segments ${bytes(s.segment_bytes)}, WAL ${bytes(s.wal_bytes)})`, 'stats-disk', s.disk_bytes],
        ['Cache hits', count(s.cache_hits), 'stats-cache-hits', s.cache_hits],
        ['Cache misses', count(s.cache_misses), 'stats-cache-misses', s.cache_misses],
        ['Cache hit rate', s.cache_hits + s.cache_misses > 0
            ? `${((100 * s.cache_hits) / (s.cache_hits + s.cache_misses)).toFixed(1)} %` : '–', 'stats-cache-rate', ''],
        ['Read by searches', bytes(s.bytes_read), 'stats-bytes-read', s.bytes_read],
        ['Flushes / compactions / retrains', `${count(s.flushes)} / ${count(s.compactions)} / ${count(s.retrains)}`,
            'stats-maintenance', ''],
        ['Now', [s.flushing && 'flushing', s.compacting && 'compacting'].filter(Boolean).join(', ') || 'idle',
            'stats-activity', ''],
        ['WAL group commits', count(s.wal_syncs), 'stats-wal-syncs', s.wal_syncs],
        ['Sampled recall', s.recall_estimate !== undefined
            ? `${s.recall_estimate.toFixed(3)} over ${count(s.recall_samples)} sampled searches`
            : `none yet (${count(s.recall_samples ?? 0)} samples)`, 'stats-recall-estimate', s.recall_estimate ?? ''],
    ];
    if (s.io) {
        items.push(['I/O', `${s.io.ring}, segment reads ${s.io.segment_reads}`, 'stats-io', '']);
    }
    if (s.unindexed_fields && s.unindexed_fields.length) {
        items.push(['Unindexed fields', s.unindexed_fields.join(', '), 'stats-unindexed', '']);
    }
    const nodes = [];
    for (const [label, text, testid, value] of items) {
        nodes.push(element('div', { class: 'figure' },
            element('dt', { textContent: label }),
            element('dd', { testid, textContent: text, 'data-value': String(value ?? '') })));
    }
    dl.replaceChildren(...nodes);
}

function selectedSummary() {
    return state.collections?.find((c) => c.name === state.selected) ?? null;
}

async function collectionAction(button, method, suffix, done) {
    const name = state.selected;
    showError('collection-error', null);
    $('collection-note').hidden = true;
    button.disabled = true;
    try {
        const answer = await call(method, `${collectionPath(name)}${suffix}`, method === 'POST' ? {} : undefined);
        const note = $('collection-note');
        note.textContent = done(answer);
        note.hidden = false;
        return answer;
    } catch (e) {
        globalError(e);
        showError('collection-error', e);
        return null;
    } finally {
        button.disabled = false;
    }
}

function askDelete() {
    const dialog = document.getElementById('confirm-delete');
    $('confirm-name').textContent = state.selected;
    dialog.returnValue = '';
    dialog.showModal();
}

async function confirmedDelete() {
    const dialog = document.getElementById('confirm-delete');
    if (dialog.returnValue !== 'delete') {
        return;
    }
    const name = state.selected;
    const answer = await collectionAction($('delete'), 'DELETE', '', (a) => `Deleted collection '${a.deleted}'.`);
    if (answer) {
        select(null);
        state.figures.delete(name);
        await loadCollections();
    }
}

// ---- import --------------------------------------------------------------------------------

let importing = null;

async function startImport(event) {
    event.preventDefault();
    if (importing) {
        return;
    }
    const name = state.selected;
    const file = $('import-file').files[0];
    const status = $('import-status');
    const progress = $('import-progress');
    showError('import-error', null);
    status.textContent = '';
    delete status.dataset.count;
    progress.hidden = true;
    if (!file) {
        showError('import-error', new Error('Pick a file first.'));
        return;
    }
    const batchSize = Math.max(1, Math.min(100000, Math.floor(Number($('import-batch').value) || 1000)));
    let source;
    try {
        status.textContent = `Reading ${file.name}…`;
        source = await readFile(file);
    } catch (e) {
        status.textContent = '';
        showError('import-error', e instanceof ImportError ? new Error(`${file.name}: ${e.message}`) : e);
        return;
    }
    const summary = selectedSummary();
    if (source.dimension !== null && summary && summary.dimension && source.dimension !== summary.dimension) {
        status.textContent = '';
        showError('import-error', new Error(
            `${file.name} holds vectors of dimension ${source.dimension}; collection '${name}' has dimension ${summary.dimension}.`));
        return;
    }
    if (source.count === 0) {
        status.textContent = '';
        showError('import-error', new Error(`${file.name} holds no points.`));
        return;
    }
    const controller = new AbortController();
    importing = controller;
    $('import-start').disabled = true;
    $('import-cancel').hidden = false;
    progress.hidden = false;
    progress.max = source.count;
    progress.value = 0;
    let done = 0;
    status.textContent = `Importing ${count(source.count)} points from ${file.name}…`;
    try {
        const result = await upload(call, `${collectionPath(name)}/points`, source, {
            batchSize,
            signal: controller.signal,
            onProgress: (p) => {
                done = p.done;
                progress.value = p.done;
                status.textContent = p.waiting
                    ? `${count(p.done)} of ${count(p.count)} points; the server is busy (${p.waiting.message}): retrying in ${p.waiting.seconds} s (attempt ${p.waiting.attempt})`
                    : `${count(p.done)} of ${count(p.count)} points sent`;
            },
        });
        const perSecond = result.seconds > 0 ? ` (${count(result.count / result.seconds)} points/s)` : '';
        status.textContent = `Imported ${count(result.count)} points from ${file.name} in ${result.seconds.toFixed(2)} s${perSecond}.`;
        status.dataset.count = String(result.count);
    } catch (e) {
        globalError(e);
        const stored = `${count(done)} of ${count(source.count)} points were stored before this`;
        const text = e instanceof ApiError ? e.describe() : e.message;
        showError('import-error', new Error(`Import stopped: ${text}. ${stored}.`));
        status.textContent = '';
    } finally {
        importing = null;
        $('import-start').disabled = false;
        $('import-cancel').hidden = true;
    }
    if (state.selected === name) {
        await refreshStats();
    }
    renderCollections();
}

// ---- live figures from /metrics ------------------------------------------------------------

function updateLiveFigures(collections) {
    let changedSelected = false;
    for (const [name, gauges] of collections) {
        const f = state.figures.get(name);
        if (!f) {
            continue;
        }
        if (name === state.selected && state.stats) {
            for (const k of ['points', 'segments', 'staging_vectors', 'tombstones', 'disk_bytes', 'cache_hits', 'cache_misses']) {
                if (gauges[k] !== undefined && gauges[k] !== state.stats[k]) {
                    changedSelected = true;
                }
            }
        }
        mergeFigures(name, gauges);
    }
    renderCollections();
    // The selected collection changed (a flush finished, searches warmed the cache, another
    // client wrote): read its stats again, so its figures are never older than one poll.
    if (changedSelected) {
        refreshStats();
    }
    // A collection created or deleted elsewhere: list again (at most every 5 s for one change).
    if (state.collections !== null && loadRunning === null) {
        const seen = signature(collections.keys());
        const listed = signature(state.collections.map((c) => c.name));
        if (seen !== listed && (seen !== state.lastLoad.signature || Date.now() - state.lastLoad.time > 5000)) {
            state.lastLoad = { signature: seen, time: Date.now() };
            loadCollections();
        }
    }
}

// ---- wiring --------------------------------------------------------------------------------

function start() {
    const keyInput = $('api-key');
    keyInput.value = storedKey();
    renderKeyState();
    $('key-form').addEventListener('submit', (event) => {
        event.preventDefault();
        storeKey(keyInput.value.trim());
        renderKeyState();
        clearBanner();
        loadCollections();
        refreshStats();
        pollMetricsNow();
    });
    $('api-key-forget').addEventListener('click', () => {
        storeKey('');
        keyInput.value = '';
        renderKeyState();
        loadCollections();
    });
    $('refresh').addEventListener('click', () => {
        loadCollections();
        refreshStats();
    });
    $('create-form').addEventListener('submit', createCollection);
    $('create-form').addEventListener('input', () => showError('create-error', null));
    $('stats-refresh').addEventListener('click', refreshStats);
    $('flush').addEventListener('click', async () => {
        if (await collectionAction($('flush'), 'POST', '/flush', () => 'Flushed: staging is now an indexed segment.')) {
            refreshStats();
        }
    });
    $('compact').addEventListener('click', async () => {
        if (await collectionAction($('compact'), 'POST', '/compact', () => 'Compaction finished (or had nothing to do).')) {
            refreshStats();
        }
    });
    $('delete').addEventListener('click', askDelete);
    document.getElementById('confirm-delete').addEventListener('close', confirmedDelete);
    $('import-form').addEventListener('submit', startImport);
    $('import-cancel').addEventListener('click', () => importing && importing.abort());
    initSearch(() => state.selected);
    window.addEventListener('hashchange', () => {
        const wanted = decodeURIComponent(location.hash.slice(1));
        if (wanted !== (state.selected ?? '') && state.collections?.some((c) => c.name === wanted)) {
            select(wanted);
        }
    });
    loadCollections();
    startTraffic((summary) => {
        if (state.collections === null) {
            loadCollections();
        } else {
            updateLiveFigures(summary.collections);
        }
    });
}

start();
