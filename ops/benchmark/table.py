"""Prints ops/bench's table: each figure, its ceiling from the same run, the ratio and target."""
import json
import os
import platform
import sys

from holds_row import holds_rows

out, healthz_rps, lua_rps, peak_rss_kb, p1_seconds = sys.argv[1:6]
healthz_rps, lua_rps = float(healthz_rps), float(lua_rps)
peak_rss_mib = int(peak_rss_kb) / 1024


def load(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)


rows = []


def row(name, value, ceiling, ratio, target, met):
    rows.append((name, value, ceiling, ratio, target, "yes" if met else "NO"))


def print_table():
    print(f"\nflashsale benchmark: {platform.machine()}, {os.cpu_count()} cores; every service, the API, the worker"
          " and the load generator share them\n")
    print("| figure | value | ceiling (same run) | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


healthz, p1, p1_limits = load("healthz.json"), load("p1.json"), load("p1-limits.json")
row("HTTP ceiling: GET /healthz (wrk)", f"{healthz_rps:,.0f} req/s, p99 {healthz['latency_p99_ms']:.2f} ms", "", "", "", True)
ratio = p1["rps"] / healthz_rps
row(f"P1 sold-out stampede ({p1['requests']:,} requests)", f"{p1['rps']:,.0f} req/s, p99 {p1['latency_p99_ms']:.2f} ms",
    f"{healthz_rps:,.0f} req/s", f"{ratio:.2f}", ">= 0.9", ratio >= 0.9 and p1["requests"] >= 1_000_000)
ratio = p1_limits["rps"] / healthz_rps
refused = load("p1-limits-refused.json")["refused"]
row(f"P1L P1 with every rate limit on ({p1_limits['requests']:,} requests, {refused} refused)",
    f"{p1_limits['rps']:,.0f} req/s, p99 {p1_limits['latency_p99_ms']:.2f} ms; {p1_limits['rps'] / p1['rps']:.2f} of P1",
    f"{healthz_rps:,.0f} req/s", f"{ratio:.2f}", ">= 0.9, none refused", ratio >= 0.9 and refused == 0)
# What bounds P1 on a saturated machine: the load generator's CPU per request and the API's,
# for /healthz and for P1's purchases. With both runs using every core, P1's ratio could be at
# best (wrk + API per /healthz) / (wrk per purchase + API per /healthz): the API answering
# `sold_out` as cheaply as /healthz, wrk still paying for its purchase requests.


def generator_seconds(name):
    """The load generator's own CPU seconds in run NAME (user + system, from bash's `time`)."""
    with open(os.path.join(out, f"{name}.generator-cpu")) as f:
        return sum(float(t) for t in f.read().split()[-2:])


def cpu_used(name):
    """CPU seconds each group (cpu.py) used between the snapshots NAME-cpu-before and -after."""
    before, after = load(f"{name}-cpu-before.json"), load(f"{name}-cpu-after.json")
    return {group: after[group] - before[group] for group in after}


def cpu_per_request(name, snapshots):
    wrk = generator_seconds(name)
    requests = load(f"{name}.json")["requests"]
    return wrk / requests, cpu_used(snapshots)["api"] / requests


wrk_healthz, api_healthz = cpu_per_request("healthz", "healthz")
wrk_p1, api_p1 = cpu_per_request("p1", "p1")
best = (wrk_healthz + api_healthz) / (wrk_p1 + api_healthz)
row("P1's bound: CPU per request, wrk and API (/healthz -> P1)",
    f"wrk {1e6 * wrk_healthz:.1f} -> {1e6 * wrk_p1:.1f} us, API {1e6 * api_healthz:.1f} -> {1e6 * api_p1:.1f} us; "
    f"P1 with the API's sold-out answer as cheap as /healthz: {best:.2f}", "", "", "", True)
if os.environ.get("BENCH_ONLY") == "p1":
    print_table()
    sys.exit(0)

p2 = load("p2.json")
p2_persisted, p4_80, p4_120 = load("p2-persisted.json"), load("p4-80.json"), load("p4-120.json")
p3, p3_ceiling = load("p3.json"), load("p3-healthz.json")
audits = {sale: load(f"audit-{sale}.json")
          for sale in ("bench-p1", "bench-p1-limits", "bench-p2", "bench-p4-80", "bench-p4-120", "bench-p3",
                       "bench-p5", "bench-p2-broker", "bench-p3-broker", "bench-p2-always", "bench-p3-always")}
p2_reservations = audits["bench-p2"]["sold"] / p2["seconds"]

ratio = p2["rps"] / healthz_rps
row("P2 reservation-bound, HTTP", f"{p2['rps']:,.0f} req/s, p99 {p2['latency_p99_ms']:.2f} ms",
    f"{healthz_rps:,.0f} req/s", f"{ratio:.2f}", ">= 0.25", ratio >= 0.25)
ratio = p2_reservations / lua_rps
row("P2 reservations/s vs the Lua script alone", f"{p2_reservations:,.0f} /s",
    f"{lua_rps:,.0f} /s (redis-benchmark, unpipelined)", f"{ratio:.2f}", ">= 1.0", ratio >= 1.0)
ratio = p3["latency_ms"]["avg"] / p3_ceiling["latency_ms"]["avg"]
row("P3 k6/seed.js avg latency", f"{p3['latency_ms']['avg']:.2f} ms", f"{p3_ceiling['latency_ms']['avg']:.2f} ms (/healthz)",
    f"{ratio:.2f}", "<= 1.1", ratio <= 1.1)
# What bounds P3: k6 runs a closed loop (each virtual user waits for its answer), so on a
# saturated machine its latency follows the CPU per request of everything, k6 included, and
# k6/seed.js's iteration (a JSON body, the answer parsed, counters, a check) costs k6 more than
# healthz.js's bare GET.
per_request = {}
for name in ("p3", "p3-healthz"):
    requests = load(f"{name}.json")["requests"]
    cpu = {"k6": generator_seconds(name), **cpu_used(name)}
    per_request[name] = {group: seconds / requests for group, seconds in cpu.items()}
healthz_k6, healthz_api = per_request["p3-healthz"]["k6"], per_request["p3-healthz"]["api"]
best = (per_request["p3"]["k6"] + healthz_api) / (healthz_k6 + healthz_api)
row("P3's bound: CPU per request, k6 and API (/healthz -> P3)",
    f"k6 {1e6 * healthz_k6:.1f} -> {1e6 * per_request['p3']['k6']:.1f} us, "
    f"API {1e6 * healthz_api:.1f} -> {1e6 * per_request['p3']['api']:.1f} us, machine busy "
    f"{1e6 * per_request['p3-healthz']['busy']:.1f} -> {1e6 * per_request['p3']['busy']:.1f} us; "
    f"P3 with the API's answers as cheap as /healthz: {best:.2f}", "", "", "", True)
sustainable = p2_persisted["persist_rps"]
row("Pipeline's sustainable rate (persisted/s while P2 saturates it)", f"{sustainable:,.0f} /s", "", "", "", True)
row("P2 saturated: reserve -> persisted", f"p50 {p2_persisted['p50_ms']:.0f} ms, p99 {p2_persisted['p99_ms']:.0f} ms, "
    f"backlog persisted {p2_persisted['drain_ms']} ms after the load", "", "", "", True)
for share, p4 in (("80", p4_80), ("120", p4_120)):
    load_run = load(f"p4-{share}-load.json")
    offered = f"{load_run['rps']:,.0f} req/s offered (target {share}%: {sustainable * int(share) / 100:,.0f})"
    if share == "80":
        row(f"P4 at {share}%: reserve -> persisted", f"p50 {p4['p50_ms']:.0f} ms, p99 {p4['p99_ms']:.0f} ms; {offered}",
            "", "", "p99 <= 250 ms", p4["p99_ms"] <= 250)
        row(f"P4 at {share}%: backlog persisted after the load stops", f"{p4['drain_ms']} ms", "", "", "<= 1000 ms",
            p4["drain_ms"] <= 1000)
    else:
        row(f"P4 at {share}%: reserve -> persisted (grows with the backlog, no step)",
            f"p50 {p4['p50_ms']:.0f} ms, p99 {p4['p99_ms']:.0f} ms; {offered}; drained {p4['drain_ms']} ms after",
            "", "", "", True)
for variant, what in (("broker", '"durability": "broker"'), ("always", "Redis appendfsync always")):
    p2_variant, p3_variant = load(f"p2-{variant}.json"), load(f"p3-{variant}.json")
    row(f"P2 with {what}", f"{p2_variant['rps']:,.0f} req/s, p99 {p2_variant['latency_p99_ms']:.2f} ms",
        f"{p2['rps']:,.0f} req/s (P2, default)", f"{p2_variant['rps'] / p2['rps']:.2f}", "", True)
    row(f"P3 with {what}", f"avg {p3_variant['latency_ms']['avg']:.2f} ms, p99 {p3_variant['latency_ms']['p99']:.2f} ms",
        f"{p3['latency_ms']['avg']:.2f} ms (P3, default)", f"{p3_variant['latency_ms']['avg'] / p3['latency_ms']['avg']:.2f}",
        "", True)
row("P5 API peak RSS (k6/seed.js, 500 VUs)", f"{peak_rss_mib:.1f} MiB", "", "", "<= 64 MiB", peak_rss_mib <= 64)
machine = p2["seconds"] * os.cpu_count()
used = cpu_used("p2")
api_threads = {group.removeprefix("api/"): used.pop(group) for group in list(used) if group.startswith("api/")}
busy = used.pop("busy")
used["load generator, kernel, rest"] = busy - sum(used.values())
used["idle"] = max(0.0, machine - busy)
shares = ", ".join(f"{group} {100 * seconds / machine:.0f}%"
                   for group, seconds in sorted(used.items(), key=lambda item: -item[1]))
row(f"CPU during P2 (share of {os.cpu_count()} cores)", shares, "", "", "", True)


def redis_counters(name):
    with open(os.path.join(out, f"{name}.txt")) as f:
        return dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)


redis_before, redis_after = redis_counters("p2-redis-before"), redis_counters("p2-redis-after")
work = {what: int(redis_after.get(field, 0)) - int(redis_before.get(field, 0))
        for what, field in (("snapshots", "rdb_saves"), ("AOF rewrites", "aof_rewrites"))}
row("Redis during P2: snapshots, AOF rewrites (each forks and writes the whole dataset)",
    f"{work['snapshots']}, {work['AOF rewrites']}; {int(redis_after.get('aof_current_size', 0)) / 2**20:,.0f} MiB of AOF",
    "", "", "", True)
p2_sold = audits["bench-p2"]["sold"]
per_unit = ", ".join(f"{group} {1e6 * used[group] / p2_sold:.1f}"
                     for group in ("api", "redis", "broker", "worker", "postgres"))
row("CPU per sold unit during P2, us", per_unit, "", "", "", True)
api_per_purchase = used["api"] / p2["requests"]
ratio = api_per_purchase / api_healthz
row("API CPU per purchase (P2) / per /healthz request", f"{1e6 * api_per_purchase:.1f} us / {1e6 * api_healthz:.1f} us",
    "", f"{ratio:.1f}x", "<= 3x", ratio <= 3)
row("API CPU per purchase (P2) by thread, us",
    ", ".join(f"{part} {1e6 * seconds / p2['requests']:.1f}" for part, seconds in api_threads.items()), "", "", "", True)
# The producer alone (tests/pipeline/producer_cost.rs): the API's way, and one callback instead
# of a future per event, against librdkafka's own rate of about 1 us per small message.
producer_file = os.path.join(out, "producer.jsonl")
if os.path.exists(producer_file):
    with open(producer_file) as f:
        for line in f:
            p = json.loads(line)
            row(f"Producer alone, 100k events ({p['way'].replace('_', ' ')})",
                f"{p['producer_cpu_us_per_event']:.1f} us CPU/event (broker {p['broker_cpu_us_per_event']:.1f} us), "
                f"{p['events_per_second']:,.0f} events/s", "", "", "", True)
rows.extend(holds_rows(out))
for sale, audit in audits.items():
    ok = audit["oversold"] == 0 and audit["missing"] == 0 and audit["duplicated"] == 0
    row(f"Audit {sale}", f"sold {audit['sold']}, persisted {audit['persisted']}, oversold {audit['oversold']}, "
        f"missing {audit['missing']}, duplicated {audit['duplicated']}", "", "", "all 0", ok)

print_table()
audits_ok = all(r[5] == "yes" for r in rows if r[0].startswith("Audit"))
sys.exit(0 if audits_ok else 1)
