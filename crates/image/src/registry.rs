//! The OCI distribution client: pull and push against registries.
