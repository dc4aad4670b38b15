// Reading a file the user picked into points, and sending them in batches to
// POST /v1/collections/{name}/points. The parsers touch no DOM (tests/browser imports them).
//
// .fvecs: rows of a little-endian int32 dimension followed by that many float32 values; the ids
//         are the row numbers as strings ("0", "1", ...), as `puffer-cli import` gives them.
// .jsonl / .ndjson: one point object per line ({"id", "vector", "payload"?}), blank lines skipped.
// .json:  a JSON array of points, an object {"points": [...]}, or one point object per line.

export class ImportError extends Error {}

// A source: {count, dimension (or null when unknown), points(start, end) -> array of points}.
export function fvecsSource(buffer) {
    const view = new DataView(buffer);
    const bytes = buffer.byteLength;
    if (bytes === 0) {
        throw new ImportError('the file is empty');
    }
    if (bytes < 4) {
        throw new ImportError('the file is too short for an .fvecs row');
    }
    const dimension = view.getInt32(0, true);
    if (dimension < 1 || dimension > 65536) {
        throw new ImportError(`the first row's dimension is ${dimension}: not an .fvecs file?`);
    }
    const rowBytes = 4 + 4 * dimension;
    if (bytes % rowBytes !== 0) {
        throw new ImportError(
            `the file's ${bytes} bytes are not a whole number of rows of dimension ${dimension} ` +
            `(${rowBytes} bytes each): cut short, or rows of different dimensions?`);
    }
    const count = bytes / rowBytes;
    return {
        count,
        dimension,
        points(start, end) {
            const out = [];
            for (let row = start; row < end; row++) {
                const at = row * rowBytes;
                const d = view.getInt32(at, true);
                if (d !== dimension) {
                    throw new ImportError(`row ${row} has dimension ${d}; row 0 has ${dimension}`);
                }
                const vector = new Array(dimension);
                for (let j = 0; j < dimension; j++) {
                    vector[j] = view.getFloat32(at + 4 + 4 * j, true);
                }
                out.push({ id: String(row), vector });
            }
            return out;
        },
    };
}

function checkPoint(p, where) {
    if (p === null || typeof p !== 'object' || Array.isArray(p)) {
        throw new ImportError(`${where}: not a point object ({"id", "vector", "payload"})`);
    }
    return p;
}

function pointsSource(points) {
    const first = points.find((p) => Array.isArray(p.vector));
    return {
        count: points.length,
        dimension: first ? first.vector.length : null,
        points: (start, end) => points.slice(start, end),
    };
}

function parseLines(text) {
    const points = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
        const line = lines[i].trim();
        if (line === '') {
            continue;
        }
        let value;
        try {
            value = JSON.parse(line);
        } catch (e) {
            throw new ImportError(`line ${i + 1}: ${e.message}`);
        }
        points.push(checkPoint(value, `line ${i + 1}`));
    }
    return points;
}

export function jsonSource(text, fileName) {
    if (text.trim() === '') {
        throw new ImportError('the file is empty');
    }
    if (!/\.json$/i.test(fileName)) {
        return pointsSource(parseLines(text));
    }
    let whole;
    try {
        whole = JSON.parse(text);
    } catch {
        // Not one JSON value: read it as one point per line.
        return pointsSource(parseLines(text));
    }
    if (Array.isArray(whole)) {
        return pointsSource(whole.map((p, i) => checkPoint(p, `element ${i}`)));
    }
    if (whole && typeof whole === 'object' && Array.isArray(whole.points)) {
        return pointsSource(whole.points.map((p, i) => checkPoint(p, `points[${i}]`)));
    }
    return pointsSource([checkPoint(whole, 'the file')]);
}

export function fileKind(fileName) {
    if (/\.fvecs$/i.test(fileName)) {
        return 'fvecs';
    }
    if (/\.(jsonl|ndjson|json)$/i.test(fileName)) {
        return 'json';
    }
    return null;
}

// Reads a File (or Blob with a name) into a source.
export async function readFile(file) {
    const kind = fileKind(file.name);
    if (kind === 'fvecs') {
        return fvecsSource(await file.arrayBuffer());
    }
    if (kind === 'json') {
        return jsonSource(await file.text(), file.name);
    }
    throw new ImportError(`'${file.name}': pick an .fvecs, .jsonl, .ndjson or .json file`);
}

// Sends the source's points in batches, one request at a time, each retried after the delay a
// 503 names (staging full while a flush catches up). onProgress({done, count, waiting}) is
// called after each batch and while waiting. Returns {count, seconds}.
export async function upload(call, path, source, { batchSize = 1000, onProgress, signal, maxRetries = 600 } = {}) {
    const started = performance.now();
    let done = 0;
    while (done < source.count) {
        if (signal && signal.aborted) {
            throw new ImportError(`cancelled after ${done} of ${source.count} points`);
        }
        const end = Math.min(source.count, done + batchSize);
        const points = source.points(done, end);
        await call('POST', path, { points }, {
            retries: maxRetries,
            signal,
            onRetry: (seconds, attempt, error) => {
                if (onProgress) {
                    onProgress({ done, count: source.count, waiting: { seconds, attempt, message: error.message } });
                }
            },
        });
        done = end;
        if (onProgress) {
            onProgress({ done, count: source.count, waiting: null });
        }
    }
    return { count: done, seconds: (performance.now() - started) / 1000 };
}
