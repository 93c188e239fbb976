"""Farm integrations beside MQTT and REST: Prometheus metrics, an MTConnect SHDR adapter, webcams."""
