"""mqttprint: a 3D printer's serial port as an MQTT device, with an OctoPrint-compatible REST shim."""

__version__ = "0.1.0"
