"""The MQTT face of the gateway: topics and payloads (pure), discovery (pure), the paho client
wrapper (the only paho importer), the outbound publisher and the bridge that ties them to the
command registry and the event bus. See docs/mqtt.md for the topic contract."""
