//! The OCI image model: manifests, configs, and images in the store.
