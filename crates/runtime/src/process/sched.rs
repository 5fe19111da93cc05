//! process.scheduler and process.personality.

use oci_spec::runtime::Scheduler;

use super::channel::{ChildError, Step, StepExt};

/// Apply the spec's scheduler with sched_setattr(2).
pub fn apply(s: &Scheduler) -> Result<(), ChildError> {
    let name = serde_json::to_value(s.policy())
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let policy = match name.as_str() {
        "SCHED_OTHER" => 0,
        "SCHED_FIFO" => 1,
        "SCHED_RR" => 2,
        "SCHED_BATCH" => 3,
        "SCHED_ISO" => 4,
        "SCHED_IDLE" => 5,
        "SCHED_DEADLINE" => 6,
        _ => return Err(ChildError::new(Step::Scheduler, name, libc::EINVAL)),
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        let fname = serde_json::to_value(f)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        flags |= match fname.as_str() {
            "SCHED_FLAG_RESET_ON_FORK" => 0x01,
            "SCHED_FLAG_RECLAIM" => 0x02,
            "SCHED_FLAG_DL_OVERRUN" => 0x04,
            "SCHED_FLAG_KEEP_POLICY" => 0x08,
            "SCHED_FLAG_KEEP_PARAMS" => 0x10,
            "SCHED_FLAG_UTIL_CLAMP_MIN" => 0x20,
            "SCHED_FLAG_UTIL_CLAMP_MAX" => 0x40,
            _ => return Err(ChildError::new(Step::Scheduler, fname, libc::EINVAL)),
        };
    }
    let attr = berth_sys::process::SchedAttr {
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..Default::default()
    };
    berth_sys::process::sched_setattr_self(&attr).step(Step::Scheduler, name)
}

/// Apply linux.personality (LINUX or LINUX32 domain).
pub fn personality(p: &oci_spec::runtime::LinuxPersonality) -> Result<(), ChildError> {
    let name = serde_json::to_value(p.domain())
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let persona = match name.as_str() {
        "LINUX" => 0,
        "LINUX32" => 8,
        _ => return Err(ChildError::new(Step::Personality, name, libc::EINVAL)),
    };
    berth_sys::process::personality(persona).step(Step::Personality, name)
}
