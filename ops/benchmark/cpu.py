"""CPU time used so far by the processes a bench run involves, as JSON {group: seconds}, and by
the whole machine ("busy", from /proc/stat).

ops/bench takes snapshots before and after the HTTP ceiling, P1, P2 and P3's two k6 runs;
table.py prints the differences: each group's share of the machine during P2, which shows where
the cores go when every part of the pipeline shares them, and the API's CPU per request of each
run. The load generator has exited by the second snapshot, so it counts in what the machine was
busy with beyond the groups (ops/bench times it itself).

The API's threads are also counted by what they do ("api/<part>"): its HTTP workers (which
parse, validate and answer requests), its main thread (the reservation actors, the producer,
the relay: everything that talks to Redis for a purchase) and librdkafka's threads.
"""
import json
import os
import sys

# Process names (/proc/<pid>/comm, at most 15 characters) and the group each counts in. Redis's
# snapshot and AOF-rewrite children, while they run, have names of their own.
GROUPS = {
    "flashsale-api": "api",
    "flashsale-work": "worker",
    "redis-server": "redis",
    "redis-rdb-bgsa": "redis",
    "redis-aof-rewr": "redis",
    "tansu": "broker",
    "postgres": "postgres",
}
# The API's thread names and the part each counts in; any other thread counts in "other".
API_THREADS = {
    "actix-rt|system": "http workers",
    "flashsale-api": "actors and producer",
    "rdk:": "librdkafka",
    "producer pollin": "librdkafka",
}
TICKS = os.sysconf("SC_CLK_TCK")


def comm_and_seconds(path):
    """A /proc stat file's command name and its CPU seconds, its own and that of its children
    that ended (utime + stime + cutime + cstime: Redis's forks, PostgreSQL's backends); None if
    it is gone."""
    try:
        with open(path) as f:
            stat = f.read()
    except OSError:
        return None  # ended meanwhile
    fields = stat[stat.rindex(")") + 2 :].split()
    return stat[stat.index("(") + 1 : stat.rindex(")")], sum(int(t) for t in fields[11:15]) / TICKS


used = {group: 0.0 for group in GROUPS.values()}
used.update({f"api/{part}": 0.0 for part in [*API_THREADS.values(), "other"]})
for pid in filter(str.isdigit, os.listdir("/proc")):
    found = comm_and_seconds(f"/proc/{pid}/stat")
    if not found:
        continue
    comm, seconds = found
    group = next((g for name, g in GROUPS.items() if comm.startswith(name)), None)
    if group:
        used[group] += seconds
    if group == "api":
        for task in os.listdir(f"/proc/{pid}/task"):
            found = comm_and_seconds(f"/proc/{pid}/task/{task}/stat")
            if found:
                part = next((p for name, p in API_THREADS.items() if found[0].startswith(name)), "other")
                used[f"api/{part}"] += found[1]
with open("/proc/stat") as f:
    # cpu  user nice system idle iowait irq softirq steal ...
    ticks = [int(t) for t in f.readline().split()[1:9]]
used["busy"] = (sum(ticks) - ticks[3] - ticks[4]) / TICKS
json.dump(used, sys.stdout)
