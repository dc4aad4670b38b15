#!/usr/bin/env python3
"""The engine's layers include downward only (DESIGN.md), and the includes that must stay in one
place do: Beast and Asio only in net/ (and the tools over it), Boost.JSON there and in the engine's
exact JSON reader (engine/index/json_parse.*, the one engine header with JSON types) and the two
engine files that read stored payloads with it (engine/index/attributes.cpp, which indexes their
fields, and engine/index/payload_patch.cpp, which changes them), liburing only in engine/io/uring_ring.cpp, libcurl only in engine/storage/s3_store.cpp. Each library also links only the ones below it (engine/CMakeLists.txt),
so a call upward fails to link; this check catches an include upward before it gets that far."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# layer -> the layers it may include (besides itself).
ALLOWED = {
    "core": set(),
    "io": {"core"},
    "index": {"core"},
    "format": {"core", "io", "index"},
    "wal": {"core", "io"},
    "storage": {"core", "io", "index", "format"},
    "query": {"core", "io", "index", "format", "storage"},
    "collection": {"core", "io", "index", "format", "wal", "storage", "query"},
    "shard": {"core", "io", "index", "format", "wal", "storage", "query", "collection"},
    "db": {"core", "io", "index", "format", "wal", "storage", "query", "collection", "shard"},
}

# The engine's JSON reader, and the engine files that parse stored payloads with it (to index
# their fields, to patch them).
PAYLOAD_READERS = {"engine/index/json_parse.hpp", "engine/index/json_parse.cpp", "engine/index/attributes.cpp",
                   "engine/index/payload_patch.cpp"}

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]', re.M)


def main():
    problems = []
    checked = 0
    for layer in ALLOWED:
        folder = os.path.join(ROOT, "engine", layer)
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".hpp", ".cpp")):
                continue
            path = os.path.join("engine", layer, name)
            text = open(os.path.join(ROOT, path), encoding="utf-8").read()
            checked += 1
            for inc in INCLUDE.findall(text):
                if inc.startswith("engine/"):
                    target = inc.split("/")[1]
                    if target != layer and target not in ALLOWED[layer]:
                        problems.append(f"{path}: includes {inc}: {layer}/ may not depend on {target}/")
                elif inc.startswith("net/") or inc.startswith("apps/"):
                    problems.append(f"{path}: includes {inc}: the engine may not depend on {inc.split('/')[0]}/")
                elif inc.startswith("boost/beast") or inc.startswith("boost/asio"):
                    problems.append(f"{path}: includes {inc}: only net/ uses Beast and Asio")
                elif inc.startswith("boost/json") and path not in PAYLOAD_READERS:
                    problems.append(f"{path}: includes {inc}: only net/ and {sorted(PAYLOAD_READERS)} use Boost.JSON")
                elif inc == "liburing.h" and path != "engine/io/uring_ring.cpp":
                    problems.append(f"{path}: includes liburing.h: only engine/io/uring_ring.cpp may")
                elif inc.startswith("curl/") and path != "engine/storage/s3_store.cpp":
                    problems.append(f"{path}: includes {inc}: only engine/storage/s3_store.cpp may")
    for p in problems:
        print("FAIL " + p)
    print(f"{checked} engine files checked, {len(problems)} problems")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
