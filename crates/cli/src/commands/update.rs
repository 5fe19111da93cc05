//! `berth update`.

use berth_engine::resources::{parse_bytes, parse_cpus, parse_swap};
use berth_engine::update::{check_cpuset, update, Update};
use berth_engine::{Engine, Error};

use super::create::{online_cpus, parse_restart};

/// `update` arguments (numbers are parsed here so a bad one is one error line).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable.
    #[arg(long = "blkio-weight", allow_hyphen_values = true)]
    blkio_weight: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period.
    #[arg(long = "cpu-period", allow_hyphen_values = true)]
    cpu_period: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares", allow_hyphen_values = true)]
    cpu_shares: Option<String>,
    /// Number of CPUs.
    #[arg(long, allow_hyphen_values = true)]
    cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus", allow_hyphen_values = true)]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-mems", allow_hyphen_values = true)]
    cpuset_mems: Option<String>,
    /// Memory limit.
    #[arg(short, long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<String>,
    /// Restart policy to apply when a container exits.
    #[arg(long)]
    restart: Option<String>,
    /// Containers.
    #[arg(required = true)]
    containers: Vec<String>,
}

fn int(flag: &'static str, s: &Option<String>, min: i64) -> Result<Option<i64>, Error> {
    let Some(s) = s else { return Ok(None) };
    match s.trim().parse::<i64>() {
        Ok(v) if v >= min => Ok(Some(v)),
        Ok(_) => Err(Error::invalid(flag, s, format!("must be at least {min}"))),
        Err(_) => Err(Error::invalid(flag, s, "expected an integer")),
    }
}

impl Args {
    fn changes(&self) -> Result<Update, Error> {
        let online = online_cpus();
        let weight = int("--blkio-weight", &self.blkio_weight, 0)?
            .map(|w| {
                u16::try_from(w).map_err(|_| {
                    Error::invalid(
                        "--blkio-weight",
                        w.to_string(),
                        "must be 0 or between 10 and 1000",
                    )
                })
            })
            .transpose()?;
        for (flag, v) in [
            ("--cpuset-cpus", &self.cpuset_cpus),
            ("--cpuset-mems", &self.cpuset_mems),
        ] {
            if let Some(v) = v {
                check_cpuset(flag, v, online)?;
            }
        }
        Ok(Update {
            memory: self
                .memory
                .as_deref()
                .map(|m| parse_bytes("--memory", m))
                .transpose()?,
            memory_swap: self.memory_swap.as_deref().map(parse_swap).transpose()?,
            memory_reservation: self
                .memory_reservation
                .as_deref()
                .map(|m| parse_bytes("--memory-reservation", m))
                .transpose()?,
            nano_cpus: self
                .cpus
                .as_deref()
                .map(|c| parse_cpus(c, online))
                .transpose()?,
            cpu_shares: int("--cpu-shares", &self.cpu_shares, 0)?,
            cpu_quota: int("--cpu-quota", &self.cpu_quota, -1)?,
            cpu_period: int("--cpu-period", &self.cpu_period, 0)?,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            // 0 or -1: unlimited, as at create.
            pids_limit: self
                .pids_limit
                .as_deref()
                .map(|p| berth_engine::limits::parse_pids_limit("--pids-limit", p))
                .transpose()?,
            blkio_weight: weight,
            restart: self.restart.as_deref().map(parse_restart).transpose()?,
        })
    }
}

/// Updates each container, printing its name as given.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let u = a.changes()?;
    if u.is_empty() {
        anyhow::bail!("invalid update: you must provide one or more flags when using this command");
    }
    Ok(super::each::each(&a.containers, |key| update(eng, key, &u)))
}
