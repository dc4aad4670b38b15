// Line charts on a <canvas>, drawn by hand: a y axis from 0 to a rounded maximum, a time axis of
// the last samples, one line per series. A null value is a gap in its line.

const TICKS = 4;

// The step between the y axis' grid lines: 1, 2, 2.5 or 5 times a power of ten, so that TICKS
// steps reach the largest value.
function niceStep(max) {
    if (!(max > 0)) {
        return 1 / TICKS;
    }
    const raw = max / TICKS;
    const power = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 2.5, 5, 10]) {
        if (raw <= m * power * (1 + 1e-9)) {
            return m * power;
        }
    }
    return 10 * power;
}

// chart: {canvas, series: [{label, color, values: [number|null]}], times: [ms], span (ms),
//         format(value) -> axis label}
export function drawChart({ canvas, series, times, span, format }) {
    const ratio = window.devicePixelRatio || 1;
    const cssWidth = canvas.clientWidth || 400;
    const cssHeight = canvas.clientHeight || 160;
    if (canvas.width !== Math.round(cssWidth * ratio) || canvas.height !== Math.round(cssHeight * ratio)) {
        canvas.width = Math.round(cssWidth * ratio);
        canvas.height = Math.round(cssHeight * ratio);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, cssWidth, cssHeight);

    const style = getComputedStyle(canvas);
    const ink = style.getPropertyValue('--chart-ink').trim() || '#555';
    const grid = style.getPropertyValue('--chart-grid').trim() || '#e4e4e4';
    ctx.font = '11px system-ui, sans-serif';

    let max = 0;
    for (const s of series) {
        for (const v of s.values) {
            if (v !== null && v > max) {
                max = v;
            }
        }
    }
    const top = niceStep(max) * TICKS;
    let labelWidth = 0;
    for (let i = 0; i <= TICKS; i++) {
        labelWidth = Math.max(labelWidth, ctx.measureText(format((top * i) / TICKS)).width);
    }
    labelWidth += 8;
    const left = labelWidth;
    const right = cssWidth - 6;
    const upper = 8;
    const lower = cssHeight - 18;

    ctx.strokeStyle = grid;
    ctx.fillStyle = ink;
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let i = 0; i <= TICKS; i++) {
        const value = (top * i) / TICKS;
        const y = lower - ((lower - upper) * i) / TICKS;
        ctx.beginPath();
        ctx.moveTo(left, Math.round(y) + 0.5);
        ctx.lineTo(right, Math.round(y) + 0.5);
        ctx.stroke();
        ctx.fillText(format(value), left - 4, y);
    }

    const now = times.length ? times[times.length - 1] : Date.now();
    const start = now - span;
    const x = (t) => left + ((right - left) * (t - start)) / span;
    const y = (v) => lower - ((lower - upper) * v) / top;

    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (let s = 0; s <= span / 1000; s += 30) {
        const at = x(now - s * 1000);
        ctx.fillText(s === 0 ? 'now' : `-${s}s`, Math.min(Math.max(at, left + 12), right - 12), lower + 4);
    }

    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    for (const s of series) {
        ctx.strokeStyle = s.color;
        ctx.beginPath();
        let drawing = false;
        for (let i = 0; i < s.values.length; i++) {
            const v = s.values[i];
            if (v === null || times[i] < start) {
                drawing = false;
                continue;
            }
            if (drawing) {
                ctx.lineTo(x(times[i]), y(v));
            } else {
                ctx.moveTo(x(times[i]), y(v));
                drawing = true;
            }
        }
        ctx.stroke();
        // A single point between gaps would not show as a line: mark every point lightly.
        ctx.fillStyle = s.color;
        for (let i = 0; i < s.values.length; i++) {
            const v = s.values[i];
            if (v !== null && times[i] >= start) {
                ctx.beginPath();
                ctx.arc(x(times[i]), y(v), 1.5, 0, 2 * Math.PI);
                ctx.fill();
            }
        }
    }
}
