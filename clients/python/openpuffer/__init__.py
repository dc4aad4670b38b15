"""OpenPuffer's Python client: the HTTP API of puffer-server over the standard library.

    from openpuffer import Client
    c = Client("http://127.0.0.1:8080", api_key=None)
    c.create_collection("docs", dimension=3, metric="cosine")
    c.upsert("docs", [{"id": "a", "vector": [1, 0, 0], "payload": {"lang": "en"}}])
    hits = c.search("docs", [1, 0, 0], top_k=5, include_payload=True)

Every failed call raises OpenPufferError with the server's status, code and message. Vectors
may be lists, tuples or numpy arrays (1-D for one vector, 2-D for many).
"""

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence

__all__ = ["Client", "OpenPufferError", "Hit", "SearchResult"]

# The server takes at most this many points per upsert (docs/api.md); larger uploads are split.
UPSERT_BATCH_MAX = 1000


class OpenPufferError(Exception):
    """A call the server refused or could not answer: status 0 means no answer at all."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{message} (HTTP {status} {code})" if status else message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Hit:
    id: str
    score: float
    payload: Optional[Dict[str, Any]] = None


@dataclass
class SearchResult:
    hits: List[Hit]
    stats: Dict[str, Any] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.hits)

    def __len__(self):
        return len(self.hits)


def _vector(v) -> List[float]:
    if hasattr(v, "tolist"):  # numpy arrays and scalars
        v = v.tolist()
    return [float(x) for x in v]


def _vectors(vs) -> List[List[float]]:
    if hasattr(vs, "tolist"):
        vs = vs.tolist()
    return [_vector(v) for v in vs]


def _hits(answer: Dict[str, Any]) -> SearchResult:
    return SearchResult([Hit(h["id"], h["score"], h.get("payload")) for h in answer["results"]],
                        answer.get("stats", {}))


class Client:
    """One server. Thread-safe: each call opens its own request."""

    def __init__(self, url: Optional[str] = None, api_key: Optional[str] = None, timeout: float = 60.0,
                 ca_file: Optional[str] = None):
        """ca_file (default: PUFFER_CA_FILE): a PEM file of the certificates to trust for an
        https:// server, such as a self-signed one; without it the system's trusted roots."""
        url = url or os.environ.get("PUFFER_SERVER") or "http://127.0.0.1:8080"
        if "://" not in url:
            url = "http://" + url
        self.url = url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("PUFFER_API_KEY")
        self.timeout = timeout
        ca_file = ca_file if ca_file is not None else os.environ.get("PUFFER_CA_FILE")
        self._tls = ssl.create_default_context(cafile=ca_file) if ca_file else None

    # -- transport ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("Authorization", "Bearer " + self.api_key)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._tls) as response:
                text = response.read().decode("utf-8")
                kind = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            raw = e.read().decode("utf-8", "replace")
            try:
                err = json.loads(raw)["error"]
                raise OpenPufferError(e.code, err.get("code", ""), err.get("message", raw)) from None
            except (ValueError, KeyError, TypeError):
                raise OpenPufferError(e.code, "", raw or str(e)) from None
        except urllib.error.URLError as e:
            raise OpenPufferError(0, "unreachable", f"cannot reach {self.url}: {e.reason}") from None
        return json.loads(text) if kind.startswith("application/json") else text

    @staticmethod
    def _name(name: str) -> str:
        return urllib.parse.quote(name, safe="")

    # -- collections -------------------------------------------------------------------------

    def health(self) -> Dict[str, Any]:
        return self._call("GET", "/healthz")

    def list_collections(self) -> List[Dict[str, Any]]:
        return self._call("GET", "/v1/collections")["collections"]

    def create_collection(self, name: str, dimension: int, metric: str = "l2",
                          quantization: Optional[str] = None) -> Dict[str, Any]:
        """quantization: "sq8" or "rabitq" stores 8-bit or 1-bit codes beside the vectors (searched,
        then re-scored)."""
        body: Dict[str, Any] = {"name": name, "dimension": int(dimension), "metric": metric}
        if quantization is not None:
            body["quantization"] = quantization
        return self._call("POST", "/v1/collections", body)

    def describe(self, name: str) -> Dict[str, Any]:
        return self._call("GET", f"/v1/collections/{self._name(name)}")

    def delete_collection(self, name: str) -> Dict[str, Any]:
        return self._call("DELETE", f"/v1/collections/{self._name(name)}")

    def stats(self, name: str) -> Dict[str, Any]:
        return self._call("GET", f"/v1/collections/{self._name(name)}/stats")

    def flush(self, name: str) -> Dict[str, Any]:
        return self._call("POST", f"/v1/collections/{self._name(name)}/flush")

    def compact(self, name: str) -> Dict[str, Any]:
        return self._call("POST", f"/v1/collections/{self._name(name)}/compact")

    def metrics(self) -> str:
        return self._call("GET", "/metrics")

    # -- points ------------------------------------------------------------------------------

    def upsert(self, name: str, points: Iterable[Dict[str, Any]], batch_size: int = UPSERT_BATCH_MAX) -> int:
        """Writes points ({"id", "vector", "payload"?}) in batches; returns how many were sent.
        Each batch is atomic and durable when its call returns; a failed batch raises, and the
        batches before it stay written."""
        batch: List[Dict[str, Any]] = []
        sent = 0
        for p in points:
            point = {"id": str(p["id"]), "vector": _vector(p["vector"])}
            if p.get("payload") is not None:
                point["payload"] = p["payload"]
            batch.append(point)
            if len(batch) >= batch_size:
                self._call("POST", f"/v1/collections/{self._name(name)}/points", {"points": batch})
                sent += len(batch)
                batch = []
        if batch:
            self._call("POST", f"/v1/collections/{self._name(name)}/points", {"points": batch})
            sent += len(batch)
        return sent

    def upsert_vectors(self, name: str, ids: Sequence[Any], vectors, payloads: Optional[Sequence[Any]] = None) -> int:
        """ids and vectors side by side (a 2-D numpy array works); payloads optional."""
        vs = _vectors(vectors)
        if len(vs) != len(ids):
            raise ValueError(f"{len(ids)} ids for {len(vs)} vectors")
        return self.upsert(name, ({"id": i, "vector": v, "payload": payloads[k] if payloads else None}
                                  for k, (i, v) in enumerate(zip(ids, vs))))

    def delete(self, name: str, ids: Sequence[Any]) -> int:
        """Deletes points by id; returns how many existed."""
        return self._call("POST", f"/v1/collections/{self._name(name)}/points/delete",
                          {"ids": [str(i) for i in ids]})["deleted"]

    # -- search ------------------------------------------------------------------------------

    @staticmethod
    def _search_body(vector, top_k, nprobe, recall_target, include_payload, refine=None) -> Dict[str, Any]:
        body: Dict[str, Any] = {"vector": _vector(vector), "top_k": int(top_k)}
        if nprobe is not None:
            body["nprobe"] = int(nprobe)
        if refine is not None:
            body["refine"] = int(refine)
        if recall_target is not None:
            body["recall_target"] = float(recall_target)
        if include_payload:
            body["include_payload"] = True
        return body

    def search(self, name: str, vector, top_k: int = 10, nprobe: Optional[int] = None,
               recall_target: Optional[float] = None, include_payload: bool = False,
               refine: Optional[int] = None) -> SearchResult:
        """refine: a quantized collection re-scores top_k * refine candidates (default 2)."""
        body = self._search_body(vector, top_k, nprobe, recall_target, include_payload, refine)
        return _hits(self._call("POST", f"/v1/collections/{self._name(name)}/search", body))

    def search_batch(self, name: str, vectors, top_k: int = 10, nprobe: Optional[int] = None,
                     recall_target: Optional[float] = None, include_payload: bool = False) -> List[SearchResult]:
        """Up to 1,000 queries in one call (a 2-D numpy array works); answers in order, each with
        what was planned for it as its stats."""
        searches = [self._search_body(v, top_k, nprobe, recall_target, include_payload) for v in _vectors(vectors)]
        answer = self._call("POST", f"/v1/collections/{self._name(name)}/search/batch", {"searches": searches})
        planned = answer.get("stats", {}).get("searches", [])
        return [SearchResult([Hit(h["id"], h["score"], h.get("payload")) for h in hits],
                             planned[i] if i < len(planned) else {})
                for i, hits in enumerate(answer["results"])]

    def recall(self, name: str, num_queries: int = 25, top_k: int = 10, nprobe: Optional[int] = None,
               recall_target: Optional[float] = None) -> Dict[str, Any]:
        body: Dict[str, Any] = {"num_queries": int(num_queries), "top_k": int(top_k)}
        if nprobe is not None:
            body["nprobe"] = int(nprobe)
        if recall_target is not None:
            body["recall_target"] = float(recall_target)
        return self._call("POST", f"/v1/collections/{self._name(name)}/recall", body)
