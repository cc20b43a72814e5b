"""OPC UA devices: the client driver (`client`) and certificate handling (`certs`).

Nothing is imported here, so that asyncua is loaded only for a station
that has an OPC UA device (the driver is imported when one is built).
"""
