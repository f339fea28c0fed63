"""Reference figures from psutil for the sampler tests.

usage: psutil_probe.py cpu <pid> <seconds>   prints "start", then after <seconds> the pid's CPU use
                                             as percent of host capacity (all cores)
       psutil_probe.py rss <pid>             prints the pid's resident set size in bytes
       psutil_probe.py host-cpu 0 <seconds>  prints "start", then after <seconds> the host's CPU
                                             busy percent over that window
       psutil_probe.py host 0 <path>         prints the host's used memory (total - available),
                                             network bytes received and sent (all interfaces
                                             but lo), the used bytes of <path>'s filesystem and
                                             the 1-minute load average, one per line
"""
import sys
import time

import psutil

mode, pid = sys.argv[1], int(sys.argv[2])
process = psutil.Process(pid) if pid else None
if mode == "host-cpu":
    psutil.cpu_percent(None)
    print("start", flush=True)
    time.sleep(float(sys.argv[3]))  # the measurement window, not synchronisation
    print(psutil.cpu_percent(None), flush=True)
elif mode == "host":
    memory = psutil.virtual_memory()
    print(memory.total - memory.available)
    nics = psutil.net_io_counters(pernic=True)
    print(sum(c.bytes_recv for name, c in nics.items() if name != "lo"))
    print(sum(c.bytes_sent for name, c in nics.items() if name != "lo"))
    print(psutil.disk_usage(sys.argv[3]).used)
    print(psutil.getloadavg()[0], flush=True)
elif mode == "cpu":
    process.cpu_percent(None)
    print("start", flush=True)
    time.sleep(float(sys.argv[3]))  # the measurement window, not synchronisation
    print(process.cpu_percent(None) / psutil.cpu_count(), flush=True)
elif mode == "rss":
    print(process.memory_info().rss, flush=True)
