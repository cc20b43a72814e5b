"""The simulated world around real station runtimes: in-process device
simulators (real protocols over loopback), the vehicles of a scenario, and
the people who answer the stations' questions. Used by `station run
--simulate`, `station line` and the tests; never by a production station."""
