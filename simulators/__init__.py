"""Wire-level simulators of the station's devices, for tests, demos and benches.

Each speaks its device's real protocol on a real socket or pty, behaves over
time, and takes faults through `inject(fault)` (docs/style.md item 4). Every one
has `start()`, `stop()`, `port`, `endpoint_update()` and a module-level
`run_standalone(config, listen, pty)` used by `station sim DEVICE`.
Simulators import nothing of `station`; they share only wire formats with `hal`.
"""
