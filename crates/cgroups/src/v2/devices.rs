//! v2 device filtering: an eBPF `BPF_PROG_TYPE_CGROUP_DEVICE` program.
//!
//! The rules are replayed through [`Emulator`] (v1 semantics), and its final
//! state - a default verdict plus exceptions - is compiled to straight-line
//! code, one block per exception, the same shape as systemd's, crun's and
//! runc's filters:
//!
//! ```text
//!   r2 = type, r3 = access, r4 = major, r5 = minor      (from bpf_cgroup_dev_ctx)
//!   block i: if r2 != type goto next
//!            [access test] if (r3 & acc) fails goto next
//!            [if major set] if r4 != major goto next
//!            [if minor set] if r5 != minor goto next
//!            r0 = exception verdict; exit
//!   r0 = default verdict; exit
//! ```
//!
//! With a deny default the exceptions allow, and must cover every requested
//! access bit (`r3 & acc == r3`); with an allow default they deny, and any
//! overlap hits (`r3 & acc != 0`) - the kernel's own v1 check in both cases.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use berth_sys::bpf::{self, Insn};
use oci_spec::runtime::LinuxDeviceCgroup;

use crate::cgfs::is_missing;
use crate::devices::{effective_rules, Emulator, Exception, ACC_ALL};
use crate::error::{Error, Result};

// Opcodes (include/uapi/linux/bpf.h, bpf_common.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// BPF_DEVCG_DEV_* in bpf_cgroup_dev_ctx.access_type's low 16 bits.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// The license string bpf(2) requires; we call no GPL-only helper.
const LICENSE: &std::ffi::CStr = c"Apache-2.0";

/// A conditional jump whose target (end of block) is patched in later.
const PATCH: i16 = i16::MIN;

/// Loads type, access, major and minor from the context (r1).
fn prologue() -> Vec<Insn> {
    vec![
        Insn::new(LDX_MEM_W, 2, 1, 0, 0),
        Insn::new(ALU32_AND_K, 2, 0, 0, 0xffff),
        Insn::new(LDX_MEM_W, 3, 1, 0, 0),
        Insn::new(ALU32_RSH_K, 3, 0, 0, 16),
        Insn::new(LDX_MEM_W, 4, 1, 4, 0),
        Insn::new(LDX_MEM_W, 5, 1, 8, 0),
    ]
}

/// `r0 = v; exit`.
fn ret(v: bool) -> [Insn; 2] {
    [
        Insn::new(ALU64_MOV_K, 0, 0, 0, i32::from(v)),
        Insn::new(EXIT, 0, 0, 0, 0),
    ]
}

/// One exception's block; a miss falls through to the next block.
fn block(e: &Exception, default_allow: bool) -> Vec<Insn> {
    let ty = if e.block { DEV_BLOCK } else { DEV_CHAR };
    let mut b = vec![Insn::new(JNE_K, 2, 0, PATCH, ty)];
    if e.access != ACC_ALL {
        b.push(Insn::new(ALU32_MOV_X, 1, 3, 0, 0));
        b.push(Insn::new(ALU32_AND_K, 1, 0, 0, i32::from(e.access)));
        b.push(if default_allow {
            Insn::new(JEQ_K, 1, 0, PATCH, 0)
        } else {
            Insn::new(JNE_X, 1, 3, PATCH, 0)
        });
    }
    if let Some(m) = e.major {
        b.push(Insn::new(JNE_K, 4, 0, PATCH, m as i32));
    }
    if let Some(m) = e.minor {
        b.push(Insn::new(JNE_K, 5, 0, PATCH, m as i32));
    }
    b.extend(ret(!default_allow));
    let len = b.len();
    for (i, insn) in b.iter_mut().enumerate() {
        if insn.off == PATCH {
            // Jump offsets count from the next instruction.
            insn.off = (len - i - 1) as i16;
        }
    }
    b
}

/// Compiles an emulated device cgroup state to a filter program.
pub(crate) fn compile(state: &Emulator) -> Vec<Insn> {
    let mut prog = prologue();
    for e in &state.exceptions {
        prog.extend(block(e, state.default_allow));
    }
    prog.extend(ret(state.default_allow));
    prog
}

fn bpf_err<'a>(op: &'static str, dir: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(op, dir, e)
}

/// Replaces the cgroup's device filter with one for the spec's `rules`.
///
/// The new program is attached before the old ones are detached, so the
/// cgroup is never unfiltered; for that moment both apply, which can only
/// deny more. Programs that vanish meanwhile are skipped.
pub(crate) fn set(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let prog = compile(&Emulator::with_rules(&effective_rules(rules)?));
    let cg = File::open(dir).map_err(bpf_err("open", dir))?;
    let old =
        bpf::query_cgroup_device(cg.as_fd()).map_err(bpf_err("bpf query device programs", dir))?;
    let fd = bpf::load_cgroup_device_prog(&prog, LICENSE, "berth_devices")
        .map_err(bpf_err("bpf load device filter", dir))?;
    bpf::attach_cgroup_device(cg.as_fd(), fd.as_fd())
        .map_err(bpf_err("bpf attach device filter", dir))?;
    for id in old {
        let old_fd = match bpf::prog_fd_by_id(id) {
            Ok(f) => f,
            Err(e) if is_missing(&e) => continue,
            Err(e) => return Err(Error::io("bpf open old device filter", dir, e)),
        };
        match bpf::detach_cgroup_device(cg.as_fd(), old_fd.as_fd()) {
            Err(e) if !is_missing(&e) => {
                return Err(Error::io("bpf detach old device filter", dir, e))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{Rule, ACC_MKNOD, ACC_READ, ACC_WRITE};
    use oci_spec::runtime::LinuxDeviceType;

    /// Runs a device program the way the kernel would, for the handful of
    /// opcodes `compile` emits; panics on anything else.
    fn run(prog: &[Insn], access_type: u32, major: u32, minor: u32) -> u64 {
        let ctx = [access_type, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        for _ in 0..10_000 {
            let i = prog[pc];
            let (d, s) = (i.dst() as usize, i.src() as usize);
            let imm = i.imm as i64 as u64;
            let mut next = pc + 1;
            let jump = |cond: bool| {
                if cond {
                    (pc as i64 + 1 + i.off as i64) as usize
                } else {
                    pc + 1
                }
            };
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(s, 1, "loads only from the context");
                    r[d] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU32_AND_K => r[d] = (r[d] as u32 & i.imm as u32) as u64,
                ALU32_RSH_K => r[d] = ((r[d] as u32) >> i.imm) as u64,
                ALU32_MOV_X => r[d] = r[s] as u32 as u64,
                ALU64_MOV_K => r[d] = imm,
                JEQ_K => next = jump(r[d] == imm),
                JNE_K => next = jump(r[d] != imm),
                JNE_X => next = jump(r[d] != r[s]),
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
            pc = next;
            assert!(pc < prog.len(), "fell off the end");
        }
        panic!("no exit");
    }

    fn oci(
        allow: bool,
        typ: LinuxDeviceType,
        major: Option<i64>,
        minor: Option<i64>,
        acc: &str,
    ) -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow)
            .set_typ(Some(typ))
            .set_major(major)
            .set_minor(minor);
        r.set_access(Some(acc.to_string()));
        r
    }

    #[test]
    fn program_agrees_with_emulator() {
        use LinuxDeviceType::{A, B, C};
        let rule_sets: Vec<Vec<LinuxDeviceCgroup>> = vec![
            vec![],
            vec![oci(true, A, None, None, "rwm")],
            vec![
                oci(true, B, Some(8), None, "r"),
                oci(false, C, Some(1), Some(9), "w"),
            ],
            vec![
                oci(true, C, Some(1), Some(3), "rwm"),
                oci(false, C, Some(1), Some(3), "w"),
            ],
            vec![
                oci(true, A, None, None, "rwm"),
                oci(false, B, Some(8), None, "w"),
                oci(false, C, Some(1), Some(3), "rwm"),
            ],
            vec![
                oci(true, A, None, None, "rwm"),
                oci(false, C, None, None, "m"),
                oci(true, C, Some(1), None, "m"),
            ],
        ];
        let majors = [0u32, 1, 5, 8, 136];
        let minors = [0u32, 1, 3, 9, 200];
        for (n, spec) in rule_sets.iter().enumerate() {
            let state = Emulator::with_rules(&effective_rules(spec).unwrap());
            let prog = compile(&state);
            for block in [false, true] {
                for access in 1..=ACC_ALL {
                    for (&maj, &min) in majors
                        .iter()
                        .flat_map(|a| minors.iter().map(move |b| (a, b)))
                    {
                        let ty = if block { DEV_BLOCK } else { DEV_CHAR } as u32;
                        let got = run(&prog, (u32::from(access) << 16) | ty, maj, min) == 1;
                        let want = state.allows(block, maj, min, access);
                        assert_eq!(
                            got, want,
                            "set {n}: block={block} {maj}:{min} access={access}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn default_rules_open_the_usual_devices_only() {
        let deny_all = [oci(false, LinuxDeviceType::A, None, None, "rwm")];
        let prog = compile(&Emulator::with_rules(&effective_rules(&deny_all).unwrap()));
        let rw = u32::from(ACC_READ | ACC_WRITE) << 16;
        let cases = [
            (rw | 2, 1, 3, 1),                         // /dev/null
            (rw | 2, 136, 4, 1),                       // /dev/pts/4
            (rw | 1, 8, 0, 0),                         // /dev/sda
            (rw | 2, 1, 1, 0),                         // /dev/mem
            (u32::from(ACC_MKNOD) << 16 | 1, 8, 0, 1), // mknod of anything
        ];
        for (at, maj, min, want) in cases {
            assert_eq!(run(&prog, at, maj, min), want, "{at:#x} {maj}:{min}");
        }
        let _ = ACC_WRITE;
    }

    #[test]
    fn blocks_are_minimal() {
        let e = |access, major, minor| Exception {
            block: false,
            major,
            minor,
            access,
        };
        // full access and wildcard numbers need only the type test
        assert_eq!(block(&e(ACC_ALL, None, None), false).len(), 3);
        assert_eq!(block(&e(ACC_READ, Some(1), Some(3)), false).len(), 8);
        let b = block(&e(ACC_READ, Some(1), None), true);
        assert_eq!(b[0].off as usize, b.len() - 1);
        assert_eq!(b[3].code, JEQ_K);
        let _ = Rule::from_oci;
    }
}
