//! berth-sys: the only crate in berth that contains `unsafe`.
//!
//! Each function wraps one syscall (or a tight group of them) that `nix` does not cover,
//! returns `io::Result` or an owned fd, and documents its safety argument inline.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod bpf;
pub mod caps;
pub mod fd;
pub mod fsmount;
pub mod lsm;
pub mod memory;
pub mod mount;
pub mod probe;
pub mod process;
pub mod seccomp;
pub mod userns;
pub mod xattr;
