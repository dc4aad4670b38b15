// What every part of the console's page shares: finding elements, number formats, error
// messages, and the banner and connection badge for errors that concern the whole page.

import { ApiError, apiKey } from './api.js';

export const POLL_MS = 2000;

export const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

// ---- formatting ----------------------------------------------------------------------------

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function count(v) {
    return typeof v === 'number' && Number.isFinite(v) ? integer.format(v) : '–';
}

export function bytes(v) {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
        return '–';
    }
    if (v < 1024) {
        return `${v} B`;
    }
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let value = v / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
    }
    return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export function score(v) {
    if (typeof v !== 'number') {
        return String(v);
    }
    if (Number.isInteger(v)) {
        return String(v);
    }
    const a = Math.abs(v);
    if (a >= 1e-4 && a < 1e7) {
        return String(Number(v.toPrecision(6)));
    }
    return v.toExponential(4);
}

export function rate(v) {
    if (typeof v !== 'number') {
        return '–';
    }
    return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

export function milliseconds(seconds) {
    if (seconds === null || seconds === undefined) {
        return '–';
    }
    const ms = seconds * 1000;
    return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 1 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`;
}

export function cacheFigure(f) {
    if (f.cache_hits === undefined || f.cache_misses === undefined) {
        return '–';
    }
    const total = f.cache_hits + f.cache_misses;
    const share = total > 0 ? ` (${Math.round((100 * f.cache_hits) / total)} %)` : '';
    return `${count(f.cache_hits)} / ${count(f.cache_misses)}${share}`;
}

export function element(tag, props = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
        if (k === 'testid') {
            e.dataset.testid = v;
        } else if (k === 'class') {
            e.className = v;
        } else if (k.startsWith('data-')) {
            e.setAttribute(k, v);
        } else {
            e[k] = v;
        }
    }
    for (const c of children) {
        e.append(c);
    }
    return e;
}

export function showError(testid, error) {
    const e = $(testid);
    if (!error) {
        e.hidden = true;
        e.textContent = '';
        return;
    }
    let text = error instanceof ApiError ? error.describe() : error.message ?? String(error);
    if (error instanceof ApiError && error.status === 403) {
        text += ' (the key in use is the read-only key; this needs the full --api-key)';
    }
    e.textContent = text;
    e.hidden = false;
}

// ---- connection and key --------------------------------------------------------------------

export function setConnection(stateName, text) {
    const c = $('connection');
    c.dataset.state = stateName;
    c.textContent = text;
}

export function setBanner(kind, text) {
    const b = $('banner');
    b.dataset.kind = kind;
    b.textContent = text;
    b.hidden = false;
}

export function clearBanner() {
    const b = $('banner');
    b.hidden = true;
    b.textContent = '';
    delete b.dataset.kind;
}

// Errors that concern the whole page (no answer, or the key refused) go to the banner; true if
// this was one of them.
export function globalError(error) {
    if (!(error instanceof ApiError)) {
        return false;
    }
    if (error.status === 0 && error.code === 'unreachable') {
        setConnection('down', 'unreachable');
        setBanner('unreachable', `${error.message} The console tries again every ${POLL_MS / 1000} s.`);
        return true;
    }
    if (error.status === 401) {
        setConnection('auth', 'key needed');
        const lead = apiKey()
            ? 'The server did not accept this API key'
            : 'This server needs an API key: enter it above';
        setBanner('unauthorized', `${lead}. The server said: ${error.describe()}`);
        return true;
    }
    return false;
}

export function connected() {
    setConnection('ok', 'connected');
    const b = $('banner');
    if (b.dataset.kind === 'unreachable' || b.dataset.kind === 'unauthorized') {
        clearBanner();
    }
}
