// The traffic charts: GET /metrics every 2 s, requests per second from the growth of the request
// counters and latency quantiles from the growth of the histogram buckets (metrics.js), drawn for
// the last 2 minutes (charts.js).

import { ApiError, call } from './api.js';
import { drawChart } from './charts.js';
import { parsePrometheus, rates, summarize } from './metrics.js';
import { $, POLL_MS, connected, globalError, milliseconds, rate, showError } from './ui.js';

const WINDOW_MS = 120000;

let onScrape = () => {};

const metricsState = { previous: null, previousTime: 0, samples: [], everTraffic: false, timer: null, polling: false };

const QPS_SERIES = [
    ['search', '--c-search'],
    ['write', '--c-write'],
    ['other', '--c-other'],
];

function cssColor(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function drawTraffic() {
    const now = Date.now();
    const samples = metricsState.samples.filter((s) => s.time >= now - WINDOW_MS);
    metricsState.samples = samples;
    const times = samples.map((s) => s.time);
    const last = samples[samples.length - 1];

    const anyTraffic = samples.some((s) => s.qps.all > 0);
    if (anyTraffic) {
        metricsState.everTraffic = true;
    }
    const qpsEmpty = $('qps-empty');
    qpsEmpty.hidden = anyTraffic;
    if (samples.length === 0) {
        qpsEmpty.textContent = metricsState.previous
            ? 'Measuring: rates show from the second scrape of /metrics on (2 s).'
            : 'No figures: /metrics could not be read yet.';
    } else {
        qpsEmpty.textContent = metricsState.everTraffic
            ? 'No traffic in the last 2 minutes.'
            : 'No traffic yet: requests per second show here once clients call the API.';
    }
    for (const [g] of QPS_SERIES) {
        $(`qps-${g}`).textContent = last ? rate(last.qps[g]) : '–';
    }
    $('qps-errors').textContent = last ? rate(last.errorsPerSecond) : '–';
    const peak = samples.reduce((m, s) => Math.max(m, s.qps.search), 0);
    const peakEl = $('qps-search-peak');
    peakEl.textContent = samples.length ? rate(peak) : '–';
    peakEl.dataset.value = String(peak);
    const qpsCanvas = document.getElementById('qps-chart');
    qpsCanvas.dataset.samples = String(samples.length);
    drawChart({
        canvas: qpsCanvas,
        times,
        span: WINDOW_MS,
        format: (v) => String(Number(v.toFixed(2))),
        series: [
            ...QPS_SERIES.map(([g, color]) => ({ label: g, color: cssColor(color), values: samples.map((s) => s.qps[g]) })),
            { label: 'errors', color: cssColor('--c-error'), values: samples.map((s) => s.errorsPerSecond) },
        ],
    });

    const group = $('latency-group').value;
    const latency = samples.map((s) => s.latency[group]);
    const anyLatency = latency.some((l) => l.p50 !== null);
    $('latency-empty').hidden = anyLatency;
    const lastLatency = latency[latency.length - 1];
    for (const q of ['p50', 'p95', 'p99']) {
        $(`latency-${q}`).textContent = lastLatency ? milliseconds(lastLatency[q]) : '–';
    }
    drawChart({
        canvas: document.getElementById('latency-chart'),
        times,
        span: WINDOW_MS,
        format: (v) => `${Number(v.toFixed(3))} ms`,
        series: ['p50', 'p95', 'p99'].map((q) => ({
            label: q,
            color: cssColor(`--c-${q}`),
            values: latency.map((l) => (l[q] === null ? null : l[q] * 1000)),
        })),
    });
}

async function pollMetrics() {
    metricsState.polling = true;
    try {
        const text = await call('GET', '/metrics', undefined, { text: true });
        const now = Date.now();
        const summary = summarize(parsePrometheus(text));
        connected();
        showError('metrics-error', null);
        // A scrape too soon after the last one (a new key) keeps the older base, so no request
        // falls between two samples.
        if (!metricsState.previous) {
            metricsState.previous = summary;
            metricsState.previousTime = now;
        } else if (now - metricsState.previousTime >= 500) {
            metricsState.samples.push({ time: now, ...rates(metricsState.previous, summary, (now - metricsState.previousTime) / 1000) });
            metricsState.previous = summary;
            metricsState.previousTime = now;
        }
        onScrape(summary);
    } catch (e) {
        // No answer or no key: the banner says so already.
        if (!globalError(e)) {
            showError('metrics-error', e instanceof ApiError
                ? new ApiError(e.status, e.code, `Reading /metrics failed: ${e.message}`) : e);
        }
    }
    metricsState.polling = false;
    drawTraffic();
    clearTimeout(metricsState.timer);
    metricsState.timer = setTimeout(pollMetrics, POLL_MS);
}

// Scrape now (a new key was given) rather than at the next tick; the ticks go on from here.
export function pollMetricsNow() {
    clearTimeout(metricsState.timer);
    metricsState.timer = null;
    if (!metricsState.polling) {
        pollMetrics();
    }
}

// Starts the polling; each scrape's summary (metrics.js) goes to scraped(summary) too.
export function startTraffic(scraped) {
    onScrape = scraped;
    $('latency-group').addEventListener('change', drawTraffic);
    window.addEventListener('resize', drawTraffic);
    pollMetrics();
}
