"""CPU time used so far by the processes a bench run involves, as JSON {group: seconds}, and by
the whole machine ("busy", from /proc/stat).

ops/bench takes one snapshot before P2 and one after; table.py prints the difference as each
group's share of the machine during P2, which shows where the cores go when every part of the
pipeline shares them. The load generator has exited by the second snapshot, so it counts in
what the machine was busy with beyond the groups.
"""
import json
import os
import sys

# Process names (/proc/<pid>/comm, at most 15 characters) and the group each counts in.
GROUPS = {
    "flashsale-api": "api",
    "flashsale-work": "worker",
    "redis-server": "redis",
    "tansu": "broker",
    "postgres": "postgres",
}
TICKS = os.sysconf("SC_CLK_TCK")

used = {group: 0.0 for group in GROUPS.values()}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        continue  # ended meanwhile
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    group = next((g for name, g in GROUPS.items() if comm.startswith(name)), None)
    if group:
        fields = stat[stat.rindex(")") + 2 :].split()
        used[group] += (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
with open("/proc/stat") as f:
    # cpu  user nice system idle iowait irq softirq steal ...
    ticks = [int(t) for t in f.readline().split()[1:9]]
used["busy"] = (sum(ticks) - ticks[3] - ticks[4]) / TICKS
json.dump(used, sys.stdout)
