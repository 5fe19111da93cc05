//! Device access rules, shared by both backends.
//!
//! v1 hands the rules to the kernel one by one (`devices.allow`/`deny`); v2
//! has no such files, so [`Emulator`] replays the same writes the way the v1
//! kernel code does (security/device_cgroup.c) and the v2 backend compiles the
//! resulting state into an eBPF program. Replaying rather than translating
//! rule by rule keeps the two backends in agreement on the awkward cases
//! (partial access, a deny punched into an allow).

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};

/// mknod(2) access.
pub(crate) const ACC_MKNOD: u8 = 1;
/// Read access.
pub(crate) const ACC_READ: u8 = 2;
/// Write access.
pub(crate) const ACC_WRITE: u8 = 4;
/// All three.
pub(crate) const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// The kind of device a rule is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Every device: resets the whole list.
    All,
    /// Block devices.
    Block,
    /// Character devices.
    Char,
}

/// One validated rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) allow: bool,
    pub(crate) kind: Kind,
    /// None matches every major.
    pub(crate) major: Option<u32>,
    /// None matches every minor.
    pub(crate) minor: Option<u32>,
    /// ACC_* bits.
    pub(crate) access: u8,
}

fn bad(rule: &LinuxDeviceCgroup, reason: &'static str) -> Error {
    Error::InvalidValue {
        resource: "devices",
        value: rule.to_string(),
        reason,
    }
}

fn number(rule: &LinuxDeviceCgroup, n: Option<i64>) -> Result<Option<u32>> {
    match n {
        None | Some(-1) => Ok(None),
        // Device numbers are 12/20 bits; staying below 2^31 also keeps them
        // exact in the sign-extended immediates of the v2 program.
        Some(v) if (0..=i64::from(i32::MAX)).contains(&v) => Ok(Some(v as u32)),
        Some(_) => Err(bad(
            rule,
            "major and minor must be between 0 and 2^31-1, or -1 for any",
        )),
    }
}

impl Rule {
    /// Validates an OCI rule. A missing type means all devices; a missing
    /// access means "rwm"; 'u' (unbuffered char) is a char device to the
    /// kernel; FIFOs ('p') cannot be filtered.
    pub(crate) fn from_oci(r: &LinuxDeviceCgroup) -> Result<Rule> {
        let kind = match r.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => Kind::All,
            LinuxDeviceType::B => Kind::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
            LinuxDeviceType::P => {
                return Err(bad(r, "the device cgroup has no rules for fifos (type p)"))
            }
        };
        let access = match r.access().as_deref() {
            None | Some("") => ACC_ALL,
            Some(s) => s.chars().try_fold(0u8, |acc, c| match c {
                'r' => Ok(acc | ACC_READ),
                'w' => Ok(acc | ACC_WRITE),
                'm' => Ok(acc | ACC_MKNOD),
                _ => Err(bad(r, "access may only contain r, w and m")),
            })?,
        };
        Ok(Rule {
            allow: r.allow(),
            kind,
            major: number(r, r.major())?,
            minor: number(r, r.minor())?,
            access,
        })
    }

    /// The rule as the v1 kernel parses it: "c 1:3 rwm", or "a" for all.
    pub(crate) fn v1_line(&self) -> String {
        let kind = match self.kind {
            Kind::All => return "a".to_string(),
            Kind::Block => 'b',
            Kind::Char => 'c',
        };
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |v| v.to_string());
        let mut acc = String::new();
        for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if self.access & bit != 0 {
                acc.push(c);
            }
        }
        format!("{kind} {}:{} {acc}", num(self.major), num(self.minor))
    }
}

/// The rules runc appends after the spec's own (runc specconv
/// `AllowedDevices`): mknod of anything, and the character devices every
/// program expects (null, zero, full, random, urandom, tty, ptmx, pts, tun).
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let c = |major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true).set_typ(Some(LinuxDeviceType::C));
        r.set_major(major)
            .set_minor(minor)
            .set_access(Some(access.to_string()));
        r
    };
    let mut block_mknod = c(None, None, "m");
    block_mknod.set_typ(Some(LinuxDeviceType::B));
    vec![
        c(None, None, "m"),
        block_mknod,
        c(Some(1), Some(3), "rwm"),
        c(Some(1), Some(8), "rwm"),
        c(Some(1), Some(7), "rwm"),
        c(Some(5), Some(0), "rwm"),
        c(Some(1), Some(5), "rwm"),
        c(Some(1), Some(9), "rwm"),
        c(Some(136), None, "rwm"),
        c(Some(5), Some(2), "rwm"),
        c(Some(10), Some(200), "rwm"),
    ]
}

/// The full rule list a manager programs for `spec` rules: deny everything,
/// then the spec's rules in order, then [`default_device_rules`].
pub(crate) fn effective_rules(spec: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    let deny_all = Rule {
        allow: false,
        kind: Kind::All,
        major: None,
        minor: None,
        access: ACC_ALL,
    };
    let mut out = vec![deny_all];
    for r in spec.iter().chain(default_device_rules().iter()) {
        out.push(Rule::from_oci(r)?);
    }
    Ok(out)
}

/// An exception to the default behaviour, as the kernel keeps them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Exception {
    pub(crate) block: bool,
    pub(crate) major: Option<u32>,
    pub(crate) minor: Option<u32>,
    pub(crate) access: u8,
}

/// The state of a v1 device cgroup: a default plus exceptions to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Emulator {
    /// True: everything not excepted is allowed ("blacklist").
    pub(crate) default_allow: bool,
    /// Exceptions, in the order they were added.
    pub(crate) exceptions: Vec<Exception>,
}

impl Emulator {
    /// A fresh child of the root cgroup: everything allowed.
    pub(crate) fn new() -> Self {
        Emulator {
            default_allow: true,
            exceptions: Vec::new(),
        }
    }

    /// Replays `rules` in order.
    pub(crate) fn with_rules(rules: &[Rule]) -> Self {
        let mut e = Emulator::new();
        for r in rules {
            e.apply(r);
        }
        e
    }

    /// One write to devices.allow (`allow`) or devices.deny, as
    /// `devcgroup_update_access` handles it.
    pub(crate) fn apply(&mut self, r: &Rule) {
        let block = match r.kind {
            Kind::All => {
                self.default_allow = r.allow;
                self.exceptions.clear();
                return;
            }
            Kind::Block => true,
            Kind::Char => false,
        };
        let same = |e: &Exception| e.block == block && e.major == r.major && e.minor == r.minor;
        if r.allow != self.default_allow {
            // dev_exception_add: merge access into an identical entry.
            match self.exceptions.iter_mut().find(|e| same(e)) {
                Some(e) => e.access |= r.access,
                None => self.exceptions.push(Exception {
                    block,
                    major: r.major,
                    minor: r.minor,
                    access: r.access,
                }),
            }
        } else {
            // dev_exception_rm: strip the access bits, drop emptied entries.
            for e in self.exceptions.iter_mut().filter(|e| same(e)) {
                e.access &= !r.access;
            }
            self.exceptions.retain(|e| e.access != 0);
        }
    }

    /// Whether an access is allowed, as `devcgroup_legacy_check_permission`
    /// decides: with a deny default an exception must cover every requested
    /// bit; with an allow default any overlap with an exception denies.
    #[cfg(test)]
    pub(crate) fn allows(&self, block: bool, major: u32, minor: u32, access: u8) -> bool {
        let hit = self.exceptions.iter().any(|e| {
            e.block == block
                && (e.major.is_none() || e.major == Some(major))
                && (e.minor.is_none() || e.minor == Some(minor))
                && if self.default_allow {
                    access & e.access != 0
                } else {
                    access & !e.access == 0
                }
        });
        hit != self.default_allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        acc: Option<&str>,
    ) -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow)
            .set_typ(typ)
            .set_major(major)
            .set_minor(minor);
        r.set_access(acc.map(str::to_string));
        r
    }

    #[test]
    fn converts_oci_rules_to_v1_lines() {
        use LinuxDeviceType::*;
        let cases = [
            (oci(false, None, None, None, Some("rwm")), "a"),
            (
                oci(true, Some(C), Some(1), Some(3), Some("rwm")),
                "c 1:3 rwm",
            ),
            (oci(true, Some(B), Some(8), None, Some("r")), "b 8:* r"),
            (oci(true, Some(U), None, Some(-1), None), "c *:* rwm"),
            (oci(true, Some(C), Some(5), Some(2), Some("mw")), "c 5:2 wm"),
        ];
        for (r, want) in cases {
            assert_eq!(Rule::from_oci(&r).unwrap().v1_line(), want, "{r}");
        }
        let bad = [
            oci(true, Some(P), None, None, None),
            oci(true, Some(C), Some(1), Some(3), Some("rx")),
            oci(true, Some(C), Some(-5), Some(3), None),
            oci(true, Some(C), Some(1), Some(1 << 40), None),
        ];
        for r in bad {
            assert!(Rule::from_oci(&r).is_err(), "{r}");
        }
    }

    #[test]
    fn effective_rules_start_with_deny_all_and_end_with_defaults() {
        let spec = [oci(
            true,
            Some(LinuxDeviceType::B),
            Some(8),
            Some(0),
            Some("r"),
        )];
        let rules = effective_rules(&spec).unwrap();
        assert_eq!(rules[0].v1_line(), "a");
        assert!(!rules[0].allow);
        assert_eq!(rules[1].v1_line(), "b 8:0 r");
        assert_eq!(rules.len(), 2 + default_device_rules().len());
        assert_eq!(rules.last().unwrap().v1_line(), "c 10:200 rwm");
    }

    #[test]
    fn emulator_follows_kernel_semantics() {
        use LinuxDeviceType::*;
        let r = |allow, typ, maj, min, acc| {
            Rule::from_oci(&oci(allow, Some(typ), maj, min, Some(acc))).unwrap()
        };
        let deny_all = r(false, A, None, None, "rwm");
        let allow_all = r(true, A, None, None, "rwm");
        // (rules, block, major, minor, access, allowed)
        let cases: Vec<(Vec<Rule>, bool, u32, u32, u8, bool)> = vec![
            (vec![], false, 1, 3, ACC_READ, true),
            (vec![deny_all], false, 1, 3, ACC_READ, false),
            (
                vec![deny_all, r(true, C, Some(1), Some(3), "rwm")],
                false,
                1,
                3,
                ACC_READ | ACC_WRITE,
                true,
            ),
            (
                vec![deny_all, r(true, C, Some(1), Some(3), "rwm")],
                true,
                1,
                3,
                ACC_READ,
                false,
            ),
            (
                vec![deny_all, r(true, C, Some(1), None, "r")],
                false,
                1,
                99,
                ACC_READ,
                true,
            ),
            (
                vec![deny_all, r(true, C, Some(1), None, "r")],
                false,
                1,
                99,
                ACC_READ | ACC_WRITE,
                false,
            ),
            // a deny strips bits from an identical allow entry
            (
                vec![
                    deny_all,
                    r(true, C, Some(1), Some(3), "rwm"),
                    r(false, C, Some(1), Some(3), "w"),
                ],
                false,
                1,
                3,
                ACC_READ,
                true,
            ),
            (
                vec![
                    deny_all,
                    r(true, C, Some(1), Some(3), "rwm"),
                    r(false, C, Some(1), Some(3), "w"),
                ],
                false,
                1,
                3,
                ACC_READ | ACC_WRITE,
                false,
            ),
            // in allow-all mode a deny hits on any overlapping bit
            (
                vec![allow_all, r(false, B, Some(8), None, "w")],
                true,
                8,
                1,
                ACC_READ | ACC_WRITE,
                false,
            ),
            (
                vec![allow_all, r(false, B, Some(8), None, "w")],
                true,
                8,
                1,
                ACC_READ,
                true,
            ),
            (
                vec![
                    allow_all,
                    r(false, B, Some(8), None, "w"),
                    r(true, B, Some(8), None, "w"),
                ],
                true,
                8,
                1,
                ACC_WRITE,
                true,
            ),
            // a later "a" resets everything
            (
                vec![deny_all, r(true, C, Some(1), Some(3), "rwm"), deny_all],
                false,
                1,
                3,
                ACC_READ,
                false,
            ),
        ];
        for (i, (rules, block, maj, min, acc, want)) in cases.into_iter().enumerate() {
            let e = Emulator::with_rules(&rules);
            assert_eq!(e.allows(block, maj, min, acc), want, "case {i}: {e:?}");
        }
    }
}
