//! The one place that says which OCI seccomp names berth understands and what each becomes.
//!
//! The compiler and `berth-runtime features` both read these tables, so the features
//! document cannot claim something the compiler rejects (runc `libcontainer/seccomp/config.go`
//! keeps the same rule). Every `match` below is exhaustive over the oci-spec enum, so a new
//! variant in oci-spec fails the build here instead of being silently dropped.

use libseccomp::{ScmpAction, ScmpArch, ScmpCompareOp, ScmpFilterContext};
use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

use berth_sys::seccomp as sys;

/// Every OCI seccomp action.
pub(crate) const ACTIONS: [LinuxSeccompAction; 9] = [
    LinuxSeccompAction::ScmpActKill,
    LinuxSeccompAction::ScmpActKillThread,
    LinuxSeccompAction::ScmpActKillProcess,
    LinuxSeccompAction::ScmpActTrap,
    LinuxSeccompAction::ScmpActErrno,
    LinuxSeccompAction::ScmpActNotify,
    LinuxSeccompAction::ScmpActTrace,
    LinuxSeccompAction::ScmpActLog,
    LinuxSeccompAction::ScmpActAllow,
];

/// Every OCI argument comparison operator.
pub(crate) const OPERATORS: [LinuxSeccompOperator; 7] = [
    LinuxSeccompOperator::ScmpCmpNe,
    LinuxSeccompOperator::ScmpCmpLt,
    LinuxSeccompOperator::ScmpCmpLe,
    LinuxSeccompOperator::ScmpCmpEq,
    LinuxSeccompOperator::ScmpCmpGe,
    LinuxSeccompOperator::ScmpCmpGt,
    LinuxSeccompOperator::ScmpCmpMaskedEq,
];

/// Every OCI architecture name except `SCMP_ARCH_NATIVE` (an alias, not an architecture).
pub(crate) const ARCHES: [Arch; 23] = [
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
    Arch::ScmpArchX32,
    Arch::ScmpArchArm,
    Arch::ScmpArchAarch64,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchParisc,
    Arch::ScmpArchParisc64,
    Arch::ScmpArchRiscv64,
    Arch::ScmpArchLoongarch64,
    Arch::ScmpArchM68k,
    Arch::ScmpArchSh,
    Arch::ScmpArchSheb,
];

/// Every OCI filter flag, plus `SECCOMP_FILTER_FLAG_TSYNC`, which runc and crun accept
/// although the runtime spec does not list it.
pub(crate) const FLAGS: [LinuxSeccompFilterFlag; 4] = [
    LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
    LinuxSeccompFilterFlag::SeccompFilterFlagLog,
    LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
];

/// The libseccomp architecture token for an OCI architecture name.
pub(crate) fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// The OCI name of a libseccomp architecture; `None` only for `ScmpArch::Native`.
pub(crate) fn oci_arch(arch: ScmpArch) -> Option<Arch> {
    ARCHES.into_iter().find(|a| scmp_arch(*a) == arch)
}

/// The value the kernel puts in `seccomp_data.arch` for syscalls of `arch`.
///
/// oci-spec's discriminants are libseccomp's `SCMP_ARCH_*` tokens, which are the kernel's
/// `AUDIT_ARCH_*` values except for x32: libseccomp invents `0x4000003e` to tell it apart,
/// but the kernel reports x32 syscalls as x86_64 with bit 30 set in the syscall number.
pub(crate) fn audit_arch(arch: ScmpArch) -> u32 {
    let arch = match arch {
        ScmpArch::Native => ScmpArch::native(),
        other => other,
    };
    match oci_arch(arch) {
        Some(Arch::ScmpArchX32) => Arch::ScmpArchX86_64 as u32,
        Some(a) => a as u32,
        None => 0,
    }
}

/// Whether the linked libseccomp can build filters for `arch` on this host: it must know
/// the architecture (2.5 lacks loongarch64, m68k and sh, which the libseccomp crate and
/// oci-spec already name) and its byte order must match the native one (libseccomp
/// refuses to mix endianness in one filter, e.g. big-endian MIPS on x86_64).
pub(crate) fn arch_supported(arch: ScmpArch) -> bool {
    let Ok(mut ctx) = ScmpFilterContext::new(ScmpAction::Allow) else {
        return false;
    };
    match ctx.is_arch_present(arch) {
        Ok(true) => true,
        Ok(false) => ctx.add_arch(arch).is_ok(),
        Err(_) => false,
    }
}

/// The libseccomp comparison for an OCI operator; `value` and `value_two` are the OCI
/// `value` and `valueTwo`. For `SCMP_CMP_MASKED_EQ` the OCI `value` is the mask and
/// `valueTwo` the expected result (libseccomp's `datum_a`/`datum_b`; Docker profiles rely
/// on it, e.g. clone's namespace-flag mask), so the pair is `(MaskedEqual(value), value_two)`.
pub(crate) fn compare_op(
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> (ScmpCompareOp, u64) {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, value),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, value),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, value),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, value),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, value),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, value),
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            (ScmpCompareOp::MaskedEqual(value), value_two.unwrap_or(0))
        }
    }
}

/// The seccomp(2) flag bit for an OCI filter flag.
pub(crate) fn flag_bit(flag: LinuxSeccompFilterFlag) -> u32 {
    match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => sys::FLAG_TSYNC,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => sys::FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => sys::FLAG_SPEC_ALLOW,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => sys::FLAG_WAIT_KILLABLE_RECV,
    }
}

/// Whether the running kernel accepts `flag`. WAIT_KILLABLE_RECV is only valid together
/// with NEW_LISTENER, so it is probed with it.
pub(crate) fn flag_supported(flag: LinuxSeccompFilterFlag) -> bool {
    let mut bits = flag_bit(flag);
    if bits == sys::FLAG_WAIT_KILLABLE_RECV {
        bits |= sys::FLAG_NEW_LISTENER;
    }
    sys::flags_supported(bits)
}

/// Action names berth accepts, in the spec's spelling (`SCMP_ACT_ALLOW`, ...).
pub fn known_actions() -> Vec<String> {
    ACTIONS.iter().map(ToString::to_string).collect()
}

/// Comparison operator names berth accepts (`SCMP_CMP_EQ`, ...).
pub fn known_operators() -> Vec<String> {
    OPERATORS.iter().map(ToString::to_string).collect()
}

/// Architecture names berth can build filters for with the linked libseccomp on this host
/// (`SCMP_ARCH_X86_64`, ...).
pub fn known_archs() -> Vec<String> {
    ARCHES
        .iter()
        .filter(|a| arch_supported(scmp_arch(**a)))
        .map(ToString::to_string)
        .collect()
}

/// Filter flag names berth understands (`SECCOMP_FILTER_FLAG_LOG`, ...).
pub fn known_flags() -> Vec<String> {
    FLAGS.iter().map(ToString::to_string).collect()
}

/// The subset of [`known_flags`] the running kernel accepts.
pub fn supported_flags() -> Vec<String> {
    FLAGS
        .iter()
        .filter(|f| flag_supported(**f))
        .map(ToString::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our tables must round-trip through oci-spec's serde names, so a name we advertise
    /// is exactly a name `config.json` can carry.
    #[test]
    fn names_round_trip_through_serde() {
        fn check<T>(items: &[T])
        where
            T: ToString + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
        {
            for item in items {
                let json = serde_json::Value::String(item.to_string());
                let back: T = serde_json::from_value(json).expect("serde name");
                assert_eq!(&back, item);
            }
        }
        check(&ACTIONS);
        check(&OPERATORS);
        check(&ARCHES);
        check(&FLAGS);
    }

    #[test]
    fn every_arch_maps_both_ways() {
        for arch in ARCHES {
            assert_eq!(oci_arch(scmp_arch(arch)), Some(arch));
        }
        assert_eq!(oci_arch(ScmpArch::Native), None);
    }

    #[test]
    fn audit_arch_values() {
        let cases = [
            (ScmpArch::X8664, 0xc000_003e),
            (ScmpArch::X32, 0xc000_003e),
            (ScmpArch::X86, 0x4000_0003),
            (ScmpArch::Aarch64, 0xc000_00b7),
            (ScmpArch::Arm, 0x4000_0028),
            (ScmpArch::S390X, 0x8000_0016),
        ];
        for (arch, want) in cases {
            assert_eq!(audit_arch(arch), want, "{arch:?}");
        }
        assert_eq!(audit_arch(ScmpArch::Native), audit_arch(ScmpArch::native()));
    }

    #[test]
    fn masked_eq_uses_value_as_mask() {
        let (op, datum) = compare_op(LinuxSeccompOperator::ScmpCmpMaskedEq, 0x7e02_0000, Some(0));
        assert_eq!((op, datum), (ScmpCompareOp::MaskedEqual(0x7e02_0000), 0));
        let (op, datum) = compare_op(LinuxSeccompOperator::ScmpCmpGe, 5, Some(9));
        assert_eq!((op, datum), (ScmpCompareOp::GreaterEqual, 5));
    }

    #[test]
    fn native_arch_is_known_and_listed() {
        let native = oci_arch(ScmpArch::native())
            .expect("native arch in table")
            .to_string();
        assert!(
            known_archs().contains(&native),
            "{native} missing from {:?}",
            known_archs()
        );
        assert_eq!(known_actions().len(), 9);
        assert_eq!(known_operators().len(), 7);
        assert!(supported_flags().contains(&"SECCOMP_FILTER_FLAG_LOG".to_string()));
    }
}
