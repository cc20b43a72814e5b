"""The plant link (docs/architecture.md section 7, docs/cli.md "The plant link").

- `config.Uplink`: the `uplink:` section of a station file.
- `link.Uplink`: the MQTT client task (imported from `station.uplink.link`, so that
  loading a station file does not load the MQTT client): journal stream (stream.py) and Sparkplug B
  live state (sparkplug.py) on one connection; its cursor and bdSeq in state.py.
"""
