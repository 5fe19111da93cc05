//! berth-image: image references as Docker parses them, the content-addressed store that
//! holds blobs, manifests and tags, layer unpacking, overlay snapshots, and the OCI image
//! model the engine reads. Registries and archives build on these.

pub mod archive;
pub mod check;
pub mod image;
pub mod layer;
pub mod reference;
pub mod registry;
pub mod snapshot;
pub mod store;
