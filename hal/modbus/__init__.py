"""Modbus TCP drivers: the station's PLC I/O (`plc.ModbusPlc`) and the photo
studio's turntable drive (`turntable.ModbusTurntable`), both on one request
layer (`client`). The simulators share only the wire format with them:
`wire` (tables, per-request limits) and `drive_protocol` (what the drive's
registers mean). The station programs against `hal.interfaces` only; its
device types name the drivers."""
