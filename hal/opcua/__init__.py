"""OPC UA devices: the client driver (`client`) and certificate handling (`certs`).

Nothing is imported here, so that `hal.registry` loads asyncua only for a
station that has an OPC UA device.
"""
