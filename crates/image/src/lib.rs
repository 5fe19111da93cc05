//! berth-image: image references as Docker parses them and the content-addressed store
//! that holds blobs, manifests and tags. Layers, snapshots, registries and archives build
//! on these two.

pub mod reference;
pub mod store;
