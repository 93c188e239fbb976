"""Pure G-code file knowledge: metadata and thumbnails read at upload (`scanner`), live print
facts while a job streams (`live`). No I/O besides reading a stream handed in; no clock reads."""

from mqttprint.gcodefile.model import Dimensions, FilamentUse, FileMetadata, Thumbnail
from mqttprint.gcodefile.scanner import MetadataScanner, scan

__all__ = ["Dimensions", "FilamentUse", "FileMetadata", "MetadataScanner", "Thumbnail", "scan"]
