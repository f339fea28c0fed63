"""Reference figures from psutil for the sampler tests.

usage: psutil_probe.py cpu <pid> <seconds>   prints "start", then after <seconds> the pid's CPU use
                                             as percent of host capacity (all cores)
       psutil_probe.py rss <pid>             prints the pid's resident set size in bytes
"""
import sys
import time

import psutil

mode, pid = sys.argv[1], int(sys.argv[2])
process = psutil.Process(pid)
if mode == "cpu":
    process.cpu_percent(None)
    print("start", flush=True)
    time.sleep(float(sys.argv[3]))  # the measurement window, not synchronisation
    print(process.cpu_percent(None) / psutil.cpu_count(), flush=True)
elif mode == "rss":
    print(process.memory_info().rss, flush=True)
