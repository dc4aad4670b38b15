// Calls to the OpenPuffer HTTP API from the console (docs/api.md), with the key the user gave.
//
// Every failure becomes an ApiError carrying the HTTP status and the server's error envelope
// ({"error":{"code","message"}}) as it was sent; status 0 means there was no answer at all.

const KEY_STORAGE = 'openpuffer.apiKey';

export function storedKey() {
    try {
        return localStorage.getItem(KEY_STORAGE) || '';
    } catch {
        return '';
    }
}

export function storeKey(key) {
    try {
        if (key) {
            localStorage.setItem(KEY_STORAGE, key);
        } else {
            localStorage.removeItem(KEY_STORAGE);
        }
    } catch {
        // Storage may be disabled; the key then lasts as long as the page.
    }
    currentKey = key;
}

let currentKey = storedKey();

export function apiKey() {
    return currentKey;
}

export class ApiError extends Error {
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
    }

    // "403 forbidden: the read-only API key may not call this route: it changes data"
    describe() {
        if (this.status === 0) {
            return this.message;
        }
        return `${this.status} ${this.code}: ${this.message}`;
    }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Retry-After is either seconds or an HTTP date; the server sends seconds.
export function retryAfterSeconds(value) {
    if (value === null || value === undefined || value === '') {
        return null;
    }
    const seconds = Number(value);
    if (Number.isFinite(seconds) && seconds >= 0) {
        return seconds;
    }
    const when = Date.parse(value);
    if (Number.isFinite(when)) {
        return Math.max(0, (when - Date.now()) / 1000);
    }
    return null;
}

async function errorFrom(response) {
    const text = await response.text();
    let code = response.statusText || 'error';
    let message = text.trim() || `HTTP ${response.status}`;
    try {
        const envelope = JSON.parse(text);
        if (envelope && envelope.error) {
            code = envelope.error.code ?? code;
            message = envelope.error.message ?? message;
        }
    } catch {
        // Not an envelope (a proxy's page, for example): keep the text as it came.
    }
    return new ApiError(response.status, code, message);
}

// One API call. body: an object sent as JSON (undefined: no body). Options:
//   text     answer the response body as text instead of parsing JSON
//   retries  how many times a 503 carrying Retry-After is sent again after that delay
//   onRetry  (seconds, attempt, error) called before each such wait
//   signal   an AbortSignal that stops the waiting
export async function call(method, path, body, options = {}) {
    const { text = false, retries = 0, onRetry, signal } = options;
    for (let attempt = 0; ; attempt++) {
        const headers = {};
        if (currentKey) {
            headers.Authorization = `Bearer ${currentKey}`;
        }
        let response;
        try {
            response = await fetch(path, {
                method,
                headers,
                body: body === undefined ? undefined : JSON.stringify(body),
                cache: 'no-store',
                signal,
            });
        } catch (e) {
            if (signal && signal.aborted) {
                throw new ApiError(0, 'aborted', 'cancelled');
            }
            throw new ApiError(0, 'unreachable',
                `Cannot reach the server at ${location.origin} (${e.message}). Is puffer-server running?`);
        }
        if (response.ok) {
            const answer = await response.text();
            return text ? answer : JSON.parse(answer);
        }
        const error = await errorFrom(response);
        const wait = retryAfterSeconds(response.headers.get('Retry-After'));
        if (response.status === 503 && wait !== null && attempt < retries) {
            if (onRetry) {
                onRetry(wait, attempt + 1, error);
            }
            await sleep(Math.max(wait, 0.1) * 1000);
            if (signal && signal.aborted) {
                throw new ApiError(0, 'aborted', 'cancelled');
            }
            continue;
        }
        throw error;
    }
}

export const collectionPath = (name) => `/v1/collections/${encodeURIComponent(name)}`;
