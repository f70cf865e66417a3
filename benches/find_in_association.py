#!/usr/bin/env python3
"""N C-FIND requests (STUDY level, Study Root) inside one association;
prints the median time of one, in seconds. Usage: PORT AET N"""
import statistics
import sys
import time

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

port, aet, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ae = AE(ae_title="BENCH")
ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
assoc = ae.associate("127.0.0.1", port, ae_title=aet)
assert assoc.is_established
# pynetdicom leaves Nagle's algorithm on: every request would wait ~40 ms
# for a delayed ACK, and the figure would measure that.
import socket
assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
ds = Dataset()
ds.QueryRetrieveLevel = "STUDY"
ds.StudyInstanceUID = ""
ds.PatientName = ""
times = []
for _ in range(n + 1):
    t = time.perf_counter()
    for _status, _identifier in assoc.send_c_find(ds, StudyRootQueryRetrieveInformationModelFind):
        pass
    times.append(time.perf_counter() - t)
assoc.release()
print(statistics.median(times[1:]))
