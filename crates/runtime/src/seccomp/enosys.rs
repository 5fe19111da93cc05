//! The -ENOSYS stub: make syscalls newer than the profile return ENOSYS, not the default.
//!
//! A profile written with a deny-by-default action (ERRNO/EPERM, KILL, TRAP) also denies
//! every syscall added to the kernel after libseccomp's syscall table was written. Callers
//! such as glibc probe a new syscall (clone3, faccessat2, fchmodat2, ...) and fall back to
//! the old one only on ENOSYS; EPERM makes them fail instead. runc fixes this by prepending
//! a small cBPF stub to libseccomp's program (runc `libcontainer/seccomp/patchbpf/
//! enosys_linux.go`); this is berth's own version of that idea.
//!
//! For every architecture in the filter the stub compares the syscall number with a
//! threshold and returns `SECCOMP_RET_ERRNO | ENOSYS` above it; everything else falls into
//! libseccomp's program unchanged. The threshold is the larger of
//! - the largest number libseccomp knows for that architecture (found by asking libseccomp
//!   to name each number in a window above the architecture's syscall base), and
//! - the largest number the profile names for that architecture,
//!
//! so the stub never overrides a rule the profile wrote (e.g. ARM's private
//! `cacheflush` at 0xf0002: naming it lifts ARM's threshold above it). runc uses only the
//! second number; that turns a deny of any known syscall above the profile's largest name
//! into ENOSYS, which berth avoids.
//!
//! cBPF jumps are relative and forward-only, so prepending code to libseccomp's program
//! never needs its jumps adjusted; only the stub's own jumps are computed, by the small
//! label assembler below. Conditional jumps in the stub stay within one section (a few
//! instructions); the jump into the filter is an unconditional `ja` with a 32-bit offset.
//! libseccomp's program begins by loading `seccomp_data.arch` itself, so the accumulator
//! the stub leaves behind does not matter.
//!
//! Per architecture (one section per kernel `AUDIT_ARCH_*` value):
//! ```text
//!         ld  [4]                      ; arch (once, at the top)
//! sect:   jeq #AUDIT_ARCH, 0, next
//!         ld  [0]                      ; syscall number
//!         jeq #0, enosys               ; s390/s390x only: unknown numbers arrive as 0
//!         jset #0x40000000, x32, 0     ; x86_64 only: bit 30 marks the x32 ABI
//!         jgt #max, enosys, filter
//! x32:    jgt #max_x32, enosys, filter
//! filter: ja  <libseccomp program>
//! enosys: ret #ERRNO(ENOSYS)
//! next:   ...                          ; the next section, or the libseccomp program
//! ```
//! When the filter has x86_64 but not x32, x32 numbers jump straight to `filter` and get
//! libseccomp's bad-architecture action, as they would without the stub.

use libseccomp::{ScmpArch, ScmpSyscall};

use berth_sys::seccomp::SockFilter;

use super::{tables, SeccompError};

/// `SECCOMP_RET_ERRNO | ENOSYS`.
pub(crate) const RET_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;
/// The x32 ABI marks its syscall numbers with this bit (`__X32_SYSCALL_BIT`).
const X32_BIT: u32 = 0x4000_0000;
/// How far above an architecture's first syscall number to look for the largest one.
/// Today's largest tables have about 470 entries; the window leaves room for growth.
const WINDOW: i32 = 2048;

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JSET_K: u16 = 0x45;
const JA: u16 = 0x05;
const RET_K: u16 = 0x06;

/// Build the stub for a filter that covers `arches` (libseccomp tokens, native included)
/// and whose profile names `names`. Returns an empty program when no architecture has a
/// known syscall table.
pub(crate) fn stub(arches: &[ScmpArch], names: &[&str]) -> Result<Vec<SockFilter>, SeccompError> {
    let mut asm = Asm::default();
    let end = asm.label();
    asm.emit(Op::Ld(4));
    let mut any = false;
    for group in groups(arches) {
        let thresholds: Vec<(ScmpArch, u32)> = group
            .iter()
            .filter_map(|a| threshold(*a, names).map(|t| (*a, t)))
            .collect();
        if thresholds.is_empty() {
            continue;
        }
        any = true;
        section(&mut asm, tables::audit_arch(group[0]), &thresholds, end);
    }
    if !any {
        return Ok(Vec::new());
    }
    asm.bind(end);
    asm.finish()
}

/// One section: see the module comment for its shape.
fn section(asm: &mut Asm, audit: u32, thresholds: &[(ScmpArch, u32)], end: Label) {
    let (next, enosys, filter) = (asm.label(), asm.label(), asm.label());
    asm.emit(Op::Jump {
        code: JEQ_K,
        k: audit,
        jt: None,
        jf: Some(next),
    });
    asm.emit(Op::Ld(0));
    let arch = thresholds[0].0;
    if matches!(arch, ScmpArch::S390 | ScmpArch::S390X) {
        // s390 multiplexes large syscall numbers through number 0 (the ancient setup(2));
        // a number the kernel does not know arrives as 0, so 0 means ENOSYS.
        asm.emit(Op::Jump {
            code: JEQ_K,
            k: 0,
            jt: Some(enosys),
            jf: None,
        });
    }
    let find = |want: ScmpArch| thresholds.iter().find(|(a, _)| *a == want).map(|(_, t)| *t);
    let (x64, x32) = (find(ScmpArch::X8664), find(ScmpArch::X32));
    let check = |asm: &mut Asm, max: u32| {
        asm.emit(Op::Jump {
            code: JGT_K,
            k: max,
            jt: Some(enosys),
            jf: Some(filter),
        });
    };
    match (x64, x32) {
        (Some(max), None) => {
            asm.emit(Op::Jump {
                code: JSET_K,
                k: X32_BIT,
                jt: Some(filter),
                jf: None,
            });
            check(asm, max);
        }
        (None, Some(max32)) => {
            asm.emit(Op::Jump {
                code: JSET_K,
                k: X32_BIT,
                jt: None,
                jf: Some(filter),
            });
            check(asm, max32);
        }
        (Some(max), Some(max32)) => {
            let x32 = asm.label();
            asm.emit(Op::Jump {
                code: JSET_K,
                k: X32_BIT,
                jt: Some(x32),
                jf: None,
            });
            check(asm, max);
            asm.bind(x32);
            check(asm, max32);
        }
        // Only x86_64 and x32 share an AUDIT_ARCH value, so other groups have one entry.
        (None, None) => check(asm, thresholds[0].1),
    }
    asm.bind(filter);
    asm.emit(Op::Ja(end));
    asm.bind(enosys);
    asm.emit(Op::Ret(RET_ENOSYS));
    asm.bind(next);
}

/// Architectures grouped by the kernel's AUDIT_ARCH value, in first-seen order, with
/// `Native` resolved and duplicates dropped.
fn groups(arches: &[ScmpArch]) -> Vec<Vec<ScmpArch>> {
    let mut out: Vec<Vec<ScmpArch>> = Vec::new();
    for arch in arches {
        let arch = match arch {
            ScmpArch::Native => ScmpArch::native(),
            other => *other,
        };
        let audit = tables::audit_arch(arch);
        match out.iter_mut().find(|g| tables::audit_arch(g[0]) == audit) {
            Some(g) if !g.contains(&arch) => g.push(arch),
            Some(_) => {}
            None => out.push(vec![arch]),
        }
    }
    out
}

/// The ENOSYS threshold for `arch`: see the module comment.
fn threshold(arch: ScmpArch, names: &[&str]) -> Option<u32> {
    let named = names
        .iter()
        .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
        .map(ScmpSyscall::as_raw_syscall)
        .filter(|nr| *nr >= 0)
        .max();
    largest_known(arch)
        .max(named)
        .and_then(|nr| u32::try_from(nr).ok())
}

/// The largest syscall number libseccomp can name for `arch`.
///
/// libseccomp has no "table size" call, so this asks it to name each number in a window.
/// The window starts a little below `read`, which sits near the start of every table
/// (0 on x86_64, 63 on aarch64, 4003 on MIPS o32, 0x40000000 on x32); private ranges far
/// above the table, like ARM's 0xf0000 block, are left out on purpose.
pub(crate) fn largest_known(arch: ScmpArch) -> Option<i32> {
    let read = ScmpSyscall::from_name_by_arch("read", arch)
        .ok()?
        .as_raw_syscall();
    let base = read.saturating_sub(63).max(0);
    (base..base.saturating_add(WINDOW)).rev().find(|nr| {
        ScmpSyscall::from_raw_syscall(*nr)
            .get_name_by_arch(arch)
            .is_ok()
    })
}

/// A forward jump target, bound to an instruction index by [`Asm::bind`].
#[derive(Clone, Copy, Debug)]
struct Label(usize);

/// Stub instructions before jump offsets are known.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// `ld [off]`: 32-bit load from `seccomp_data`.
    Ld(u32),
    /// A conditional jump; `None` falls through to the next instruction.
    Jump {
        code: u16,
        k: u32,
        jt: Option<Label>,
        jf: Option<Label>,
    },
    /// `ja label`.
    Ja(Label),
    /// `ret #k`.
    Ret(u32),
}

/// A tiny assembler with labels for forward jumps.
#[derive(Default)]
struct Asm {
    ops: Vec<Op>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.ops.len());
    }

    fn emit(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Offset from the instruction after `at` to `label`.
    fn offset(&self, at: usize, label: Label) -> Result<u32, SeccompError> {
        let target = self.labels[label.0].ok_or(SeccompError::Assemble {
            reason: "unbound label",
        })?;
        target
            .checked_sub(at + 1)
            .and_then(|off| u32::try_from(off).ok())
            .ok_or(SeccompError::Assemble {
                reason: "backward jump",
            })
    }

    fn short(&self, at: usize, label: Option<Label>) -> Result<u8, SeccompError> {
        let Some(label) = label else { return Ok(0) };
        u8::try_from(self.offset(at, label)?).map_err(|_| SeccompError::Assemble {
            reason: "conditional jump longer than 255",
        })
    }

    fn finish(self) -> Result<Vec<SockFilter>, SeccompError> {
        let mut out = Vec::with_capacity(self.ops.len());
        for (i, op) in self.ops.iter().enumerate() {
            out.push(match *op {
                Op::Ld(off) => SockFilter {
                    code: LD_W_ABS,
                    jt: 0,
                    jf: 0,
                    k: off,
                },
                Op::Jump { code, k, jt, jf } => SockFilter {
                    code,
                    jt: self.short(i, jt)?,
                    jf: self.short(i, jf)?,
                    k,
                },
                Op::Ja(label) => SockFilter {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: self.offset(i, label)?,
                },
                Op::Ret(k) => SockFilter {
                    code: RET_K,
                    jt: 0,
                    jf: 0,
                    k,
                },
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::interp::{run, Data};

    const RET_ALLOW: u32 = 0x7fff_0000;

    /// Runs `stub` followed by a one-instruction "filter" that allows everything.
    fn verdict(arches: &[ScmpArch], names: &[&str], arch: ScmpArch, nr: u32) -> u32 {
        let mut prog = stub(arches, names).expect("stub");
        prog.push(SockFilter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: RET_ALLOW,
        });
        run(&prog, &Data::new(tables::audit_arch(arch), nr)).expect("run")
    }

    fn nr(arch: ScmpArch, name: &str) -> u32 {
        ScmpSyscall::from_name_by_arch(name, arch)
            .expect(name)
            .as_raw_syscall() as u32
    }

    #[test]
    fn largest_known_numbers_are_plausible() {
        let x64 = largest_known(ScmpArch::X8664).expect("x86_64");
        assert!((400..0x4000_0000).contains(&x64), "{x64}");
        let x32 = largest_known(ScmpArch::X32).expect("x32");
        assert!(
            x32 > 0x4000_0000 + 500,
            "x32 private syscalls 512.. are inside: {x32:#x}"
        );
        let mips = largest_known(ScmpArch::Mips).expect("mips");
        assert!((4400..5000).contains(&mips), "{mips}");
        let arm = largest_known(ScmpArch::Arm).expect("arm");
        assert!(
            arm < 0xf_0000,
            "ARM private range is outside the window: {arm:#x}"
        );
    }

    #[test]
    fn x86_64_and_x32_and_x86() {
        let arches = [ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32];
        let x64 = largest_known(ScmpArch::X8664).unwrap() as u32;
        let x86 = largest_known(ScmpArch::X86).unwrap() as u32;
        let x32 = largest_known(ScmpArch::X32).unwrap() as u32;
        let cases = [
            (ScmpArch::X8664, nr(ScmpArch::X8664, "read"), RET_ALLOW),
            (ScmpArch::X8664, x64, RET_ALLOW),
            (ScmpArch::X8664, x64 + 1, RET_ENOSYS),
            (ScmpArch::X8664, 0x3fff_ffff, RET_ENOSYS),
            (ScmpArch::X32, nr(ScmpArch::X32, "read"), RET_ALLOW),
            (ScmpArch::X32, x32, RET_ALLOW),
            (ScmpArch::X32, x32 + 1, RET_ENOSYS),
            (ScmpArch::X86, x86, RET_ALLOW),
            (ScmpArch::X86, x86 + 1, RET_ENOSYS),
            (ScmpArch::Aarch64, 5000, RET_ALLOW), // not in the filter: left to libseccomp
        ];
        for (arch, nr, want) in cases {
            assert_eq!(verdict(&arches, &[], arch, nr), want, "{arch:?} nr {nr:#x}");
        }
    }

    #[test]
    fn x32_numbers_pass_through_when_only_x86_64_is_filtered() {
        let x32 = largest_known(ScmpArch::X32).unwrap() as u32;
        assert_eq!(
            verdict(&[ScmpArch::X8664], &[], ScmpArch::X32, x32 + 1),
            RET_ALLOW
        );
        assert_eq!(
            verdict(&[ScmpArch::X32], &[], ScmpArch::X8664, 5000),
            RET_ALLOW
        );
        assert_eq!(
            verdict(&[ScmpArch::X32], &[], ScmpArch::X32, x32 + 1),
            RET_ENOSYS
        );
    }

    #[test]
    fn s390x_syscall_zero_is_enosys() {
        let arches = [ScmpArch::S390X];
        assert_eq!(verdict(&arches, &[], ScmpArch::S390X, 0), RET_ENOSYS);
        assert_eq!(verdict(&arches, &[], ScmpArch::S390X, 3), RET_ALLOW);
    }

    #[test]
    fn a_named_private_syscall_lifts_the_threshold() {
        let cacheflush = nr(ScmpArch::Arm, "cacheflush");
        assert!(cacheflush > 0xf_0000);
        let arches = [ScmpArch::Arm];
        assert_eq!(verdict(&arches, &[], ScmpArch::Arm, cacheflush), RET_ENOSYS);
        assert_eq!(
            verdict(&arches, &["cacheflush"], ScmpArch::Arm, cacheflush),
            RET_ALLOW
        );
    }

    #[test]
    fn native_and_duplicates_collapse() {
        let native = ScmpArch::native();
        assert_eq!(
            groups(&[ScmpArch::Native, native, native]),
            vec![vec![native]]
        );
        let all = [
            ScmpArch::Native,
            ScmpArch::X8664,
            ScmpArch::X86,
            ScmpArch::X32,
        ];
        if native == ScmpArch::X8664 {
            let g = groups(&all);
            assert_eq!(
                g,
                vec![vec![ScmpArch::X8664, ScmpArch::X32], vec![ScmpArch::X86]]
            );
        }
    }

    #[test]
    fn every_supported_arch_at_once_assembles() {
        let arches: Vec<ScmpArch> = tables::ARCHES
            .iter()
            .map(|a| tables::scmp_arch(*a))
            .filter(|a| tables::arch_supported(*a))
            .collect();
        let prog = stub(&arches, &[]).expect("stub");
        assert!(prog.len() < 200, "{}", prog.len());
        for arch in &arches {
            let max = largest_known(*arch).unwrap() as u32;
            assert_eq!(verdict(&arches, &[], *arch, max), RET_ALLOW, "{arch:?}");
            assert_eq!(
                verdict(&arches, &[], *arch, max + 1),
                RET_ENOSYS,
                "{arch:?}"
            );
        }
    }
}
