"""Barcode and RFID readers over a serial port or TCP.

- `transport`: the byte stream (pyserial-opened descriptor or asyncio TCP)
  and the supervised connection of one reader, up once the reader answered
  the driver's handshake;
- `framing`: bytes to frames, pure and fuzzed (Keyence lines, BIS telegrams);
- `keyence`: `KeyenceReader`, a `hal.interfaces.CodeReader`;
- `bis`: `BisTagReader`, a `hal.interfaces.TagReader`, and its telegrams.

The station programs against `hal.interfaces`; only its device types name these classes.
"""
