//! Overlay snapshots: shared read-only layers below, a container's own upper above.
