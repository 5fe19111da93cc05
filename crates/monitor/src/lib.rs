//! What a container's monitor needs while the container runs, shared by the engine (which
//! starts the monitor and reads logs) and the small `berth-monitor` relay binary.
//!
//! `berth __monitor` sets a container up (stdio, runtime create and start, the start
//! handshake) and then execs `berth-monitor`, a binary of a few hundred KiB, which copies
//! output to the json-file log ([`jsonlog`]) and to attach clients ([`frame`]), feeds
//! stdin, runs health checks through `berth __monitor-health`, and when init exits execs
//! back into `berth __monitor` to record the exit and apply the restart policy. The
//! arguments of both execs are [`handoff`]'s.

pub mod frame;
pub mod handoff;
pub mod jsonlog;
