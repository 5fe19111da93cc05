//! Image archives: docker-archive (`docker save`) and OCI image layouts, both directions.
