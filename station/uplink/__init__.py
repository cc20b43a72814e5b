"""The plant link (docs/architecture.md section 7, docs/cli.md "The plant link").

- `config.Uplink`: the `uplink:` section of a station file.
- `Uplink` (link.py): the MQTT client task: journal stream (stream.py) and Sparkplug B
  live state (sparkplug.py) on one connection; its cursor and bdSeq in state.py.
"""

from station.uplink.link import Uplink

__all__ = ["Uplink"]
