"""The holds row of ops/bench (tests/api/reap_cost.rs): 100,000 holds due at once, released and
the stock restored by a fresh API's reaper. Imported by table.py; run alone by `ops/bench holds`.

    python3 ops/benchmark/holds_row.py OUT_DIR
"""
import json
import os
import sys

TARGET_MS = 5000


def holds_rows(out):
    """(figure, value, ceiling, ratio, target, met) for each line of OUT/holds.jsonl."""
    path = os.path.join(out, "holds.jsonl")
    if not os.path.exists(path):
        return []
    rows = []
    with open(path) as f:
        for line in f:
            h = json.loads(line)
            rows.append((f"P6 {h['holds']:,} holds due at once: released, stock restored (from the API's start)",
                         f"{h['released_ms']:,} ms ({h['holds_per_second']:,.0f} holds/s)", "", "",
                         f"< {TARGET_MS:,} ms", "yes" if h["released_ms"] < TARGET_MS else "NO"))
    return rows


if __name__ == "__main__":
    rows = holds_rows(sys.argv[1])
    print("| figure | value | ceiling (same run) | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    sys.exit(0 if rows else 1)
