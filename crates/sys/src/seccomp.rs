//! seccomp syscalls.
