"""Modbus TCP drivers: the station's PLC I/O (`plc.ModbusPlc`) and the photo
studio's turntable drive (`turntable.ModbusTurntable`), both on one request
layer (`client`). The station reaches them only through `hal.interfaces` and
`hal.registry`."""
