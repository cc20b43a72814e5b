"""The inline technical-control (inspection) system: a real OPC UA server (asyncua).

What it does
- A client writes a VIN to the `vin` node (or calls `Start(vin)` on the
  `inspection` object). The simulator clears `verdict` to "" and sets
  `status` to "inspecting" before the write is answered; `verdict_delay_s`
  later it sets `verdict_vin`, `sequence` (+1), `status` = "done" and last
  `verdict` = "VIN:pass" / "VIN:fail". The VIN is in the verdict itself so
  that no verdict can be taken for another vehicle's, and so that the
  verdict of the next vehicle always differs from the last one: one given
  while a client was disconnected is seen as a change when it reads the
  value again. `plan(vin, verdicts)` sets what a VIN gets, consumed in order
  (default pass). A new VIN supersedes an inspection still running.
- Nodes are those of the device config (`config.nodes`, names -> node ids):
  `vin` and `verdict` are required; `verdict_vin`, `sequence`, `status`,
  `result` (variables) and `inspection` (the object with the `Start` method)
  are served when named; so are measurement nodes, Double variables for a
  station's measure steps (`measurements=`, values per vehicle by
  `set_values`; `address_space.py`); any other name is an error.
- `result` (String) is the inspection's result as a JSON document, written
  just before the verdict (so a client that sees the verdict and then reads
  it gets this inspection's), cleared to "" at a start:
  `{"vin": VIN, "verdict": "pass"|"fail", "measurements": [{"name", "value",
  "unit"}], "findings": [{"code", "severity": "minor"|"major"|"critical",
  "text"}]}`. `set_result(measurements, findings)` sets what the vehicle in
  front measures and has (none by default).
- Security as the config asks (or the `policies` given): None and/or
  Basic256Sha256 Sign / SignAndEncrypt endpoints; with a certificate from
  files or, if none is given, a fresh self-signed one (`certificate`). A
  configured user makes a real user manager: only that user with the
  password of `password_file`, no anonymous session. `client_trust_dir`
  makes the server refuse client certificates not in it.
- Faults through `inject()`: `VerdictTimeout` (never answers), `BadMeasurement`
  (from the next start, reads of a measurement node answer a bad status), `Restart`
  (stop, every session and subscription lost, start again on the same port),
  `ChangeCertificate` (restart with another certificate), `Freeze` (stops
  answering with its sockets open, like a hung process).

Timing: asyncua's `Server.init()` takes 1.1-1.8 s of CPU, so the server
runs in its own thread with its own event loop: `start()` awaits it without
blocking the caller's loop. A thread alone is not enough: init creates some
hundred thousand objects, and the garbage collector's full passes over them
(process-wide, under the GIL) stalled the caller's loop up to 0.1 s. So the
collector is paused while a server is built and the objects are then frozen
(`gc.freeze`, out of every later pass); the last simulator to stop unfreezes
them. Measured: start-up 0.7 s instead of 1.1 s, longest stall of another
loop about 15 ms instead of 105 ms. A restart builds a new server while the
old one is already down, so a `Restart(down_s)` is down for max(down_s,
start-up time). State (the current VIN, verdict, plan) lives here, not in
the server, and is served again after a restart. Cross-thread calls go
through `concurrent.futures` futures, so any event loop may call `start`,
`inject` and `stop`.

Boundary: imports `hal.config` (the device's config section) and
`hal.opcua.certs` only; nothing of `station`.
"""

from simulators.inspection.address_space import OBJECT, REQUIRED, VARIABLES
from simulators.inspection.faults import (
    BadMeasurement,
    ChangeCertificate,
    Fault,
    Freeze,
    Restart,
    VerdictTimeout,
)
from simulators.inspection.records import Inspection, VerdictGiven
from simulators.inspection.server import APPLICATION_URI, Policy, SimInspection
from simulators.inspection.standalone import run_standalone

__all__ = [
    "APPLICATION_URI",
    "OBJECT",
    "REQUIRED",
    "VARIABLES",
    "BadMeasurement",
    "ChangeCertificate",
    "Fault",
    "Freeze",
    "Inspection",
    "Policy",
    "Restart",
    "SimInspection",
    "VerdictGiven",
    "VerdictTimeout",
    "run_standalone",
]
