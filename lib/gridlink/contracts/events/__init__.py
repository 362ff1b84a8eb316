"""Payload schemas, one module per publishing service. Within a version, fields are only ever added."""
