// The search panel (a pasted vector, or a stored point's vector, with top_k, nprobe and a filter)
// and the recall check, on the selected collection.

import { call, collectionPath } from './api.js';
import { $, count, element, globalError, score, showError } from './ui.js';

let selected = () => null;

function parseVector(text) {
    const t = text.trim();
    if (t === '') {
        throw new Error('Enter a query vector, or a stored point\'s id.');
    }
    let values;
    if (t.startsWith('[')) {
        try {
            values = JSON.parse(t);
        } catch (e) {
            throw new Error(`The query vector is not valid JSON: ${e.message}`);
        }
        if (!Array.isArray(values)) {
            throw new Error('The query vector must be a JSON array of numbers.');
        }
    } else {
        values = t.split(/[\s,]+/).filter((s) => s !== '').map((s, i) => {
            const v = Number(s);
            if (!Number.isFinite(v)) {
                throw new Error(`Value ${i} of the query vector, '${s}', is not a number.`);
            }
            return v;
        });
    }
    // Anything else in a JSON array (strings, null) goes to the server as it is, which says
    // what it thinks of it.
    return values;
}

async function search(event) {
    if (event) {
        event.preventDefault();
    }
    showError('search-error', null);
    let vector;
    try {
        vector = parseVector($('search-vector').value);
    } catch (e) {
        showError('search-error', e);
        return;
    }
    await runSearch(vector, null);
}

async function searchById() {
    showError('search-error', null);
    const id = $('search-id').value.trim();
    if (id === '') {
        showError('search-error', new Error('Enter the id of a stored point.'));
        return;
    }
    const button = $('search-by-id');
    button.disabled = true;
    try {
        const answer = await call('POST', `${collectionPath(selected())}/points/get`,
            { ids: [id], include_vector: true, include_payload: false });
        if (answer.points.length === 0) {
            throw new Error(`No point '${id}' in collection '${selected()}'.`);
        }
        const vector = answer.points[0].vector;
        $('search-vector').value = JSON.stringify(vector);
        await runSearch(vector, id);
    } catch (e) {
        globalError(e);
        showError('search-error', e);
    } finally {
        button.disabled = false;
    }
}

async function runSearch(vector, queryId) {
    const body = { vector, top_k: Number($('search-topk').value || 10) };
    const nprobe = $('search-nprobe').value.trim();
    if (nprobe !== '') {
        body.nprobe = Number(nprobe);
    }
    if ($('search-payload').checked) {
        body.include_payload = true;
    }
    const filterText = $('search-filter').value.trim();
    if (filterText !== '') {
        try {
            body.filter = JSON.parse(filterText);
        } catch (e) {
            showError('search-error', new Error(`The filter is not valid JSON: ${e.message}`));
            return;
        }
    }
    const button = $('search-submit');
    button.disabled = true;
    const started = performance.now();
    try {
        const answer = await call('POST', `${collectionPath(selected())}/search`, body);
        renderAnswer(answer, performance.now() - started, queryId, body);
    } catch (e) {
        globalError(e);
        showError('search-error', e);
        $('search-answer').hidden = true;
    } finally {
        button.disabled = false;
    }
}

function payloadText(p) {
    if (p === undefined) {
        return '';
    }
    return p === null ? 'null' : JSON.stringify(p);
}

function renderAnswer(answer, ms, queryId, body) {
    const rows = answer.results.map((hit, i) => {
        const text = payloadText(hit.payload);
        const row = element('tr', { testid: 'result-row', 'data-id': hit.id },
            element('td', { class: 'num', testid: 'result-rank', textContent: String(i + 1) }),
            element('td', { testid: 'result-id', textContent: hit.id }),
            element('td', { class: 'num', testid: 'result-score', textContent: score(hit.score), title: String(hit.score),
                'data-score': String(hit.score) }),
            element('td', { class: 'payload', testid: 'result-payload', textContent: text, title: text }));
        if (queryId !== null && hit.id === queryId) {
            row.classList.add('self');
        }
        return row;
    });
    document.getElementById('results-body').replaceChildren(...rows);
    const what = queryId !== null ? `the vector of point '${queryId}'` : 'the query vector';
    const filtered = body.filter ? ' with the filter' : '';
    $('search-summary').textContent = `${answer.results.length} of top_k ${body.top_k} neighbours of ${what}${filtered}, `
        + `in ${ms.toFixed(1)} ms (round trip).`;
    const stats = answer.stats ?? {};
    const nodes = Object.entries(stats).map(([k, v]) => element('div', { class: 'figure' },
        element('dt', { textContent: k.replaceAll('_', ' ') }),
        element('dd', { testid: `search-stat-${k}`, textContent: typeof v === 'number' ? (Number.isInteger(v) ? count(v) : score(v)) : String(v) })));
    $('search-stats').replaceChildren(...nodes);
    $('search-answer').hidden = false;
}

// The recall check.

async function recall(event) {
    event.preventDefault();
    showError('recall-error', null);
    const body = {
        num_queries: Number($('recall-queries').value || 25),
        top_k: Number($('recall-topk').value || 10),
    };
    const nprobe = $('recall-nprobe').value.trim();
    if (nprobe !== '') {
        body.nprobe = Number(nprobe);
    }
    const button = $('recall-run');
    button.disabled = true;
    $('recall-result').hidden = true;
    try {
        const a = await call('POST', `${collectionPath(selected())}/recall`, body);
        $('recall-k').textContent = String(a.top_k);
        const value = $('recall-value');
        value.textContent = a.recall.toFixed(3);
        value.dataset.value = String(a.recall);
        $('recall-detail').textContent = `over ${count(a.num_queries)} sampled queries at nprobe ${count(a.nprobe)}`
            + `${a.expected_recall !== undefined ? ` (expected ${a.expected_recall.toFixed(3)})` : ''}; `
            + `${count(a.vectors_scanned)} vectors scanned per query, ${count(a.exhaustive_vectors_scanned)} exhaustively`;
        $('recall-result').hidden = false;
    } catch (e) {
        globalError(e);
        showError('recall-error', e);
    } finally {
        button.disabled = false;
    }
}

// Forgets the answers shown (another collection was picked).
export function resetSearch() {
    for (const id of ['search-error', 'recall-error']) {
        showError(id, null);
    }
    $('search-answer').hidden = true;
    $('recall-result').hidden = true;
}

// selectedName() names the collection the panels work on.
export function initSearch(selectedName) {
    selected = selectedName;
    $('search-form').addEventListener('submit', search);
    $('search-by-id').addEventListener('click', searchById);
    $('search-id').addEventListener('keydown', (event) => {
        if (event.key === 'Enter') {
            event.preventDefault();
            searchById();
        }
    });
    $('recall-form').addEventListener('submit', recall);
}
