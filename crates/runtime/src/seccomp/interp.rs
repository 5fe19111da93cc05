//! A small classic-BPF interpreter over `struct seccomp_data`, for tests only: it runs a
//! compiled program for a chosen (arch, syscall, args) and returns the filter's verdict,
//! so tests can check behaviour without loading anything into the kernel.
//!
//! It implements the instruction subset the kernel's seccomp checker accepts
//! (`seccomp_check_filter` in kernel/seccomp.c) and fails on anything else, including
//! backward or out-of-range jumps, so a program it accepts is also well formed.

use berth_sys::seccomp::SockFilter;

/// The kernel's `struct seccomp_data`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Data {
    pub(crate) nr: u32,
    pub(crate) arch: u32,
    pub(crate) ip: u64,
    pub(crate) args: [u64; 6],
}

impl Data {
    pub(crate) fn new(arch: u32, nr: u32) -> Self {
        Self {
            nr,
            arch,
            ..Self::default()
        }
    }

    pub(crate) fn with_args(mut self, args: [u64; 6]) -> Self {
        self.args = args;
        self
    }

    /// The 64-byte image the kernel exposes, in host byte order.
    fn bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        b[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        b[8..16].copy_from_slice(&self.ip.to_ne_bytes());
        for (i, a) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        b
    }
}

/// Run `prog` on `data`; `Err` names the first thing the kernel would also reject.
pub(crate) fn run(prog: &[SockFilter], data: &Data) -> Result<u32, String> {
    let bytes = data.bytes();
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    loop {
        let ins = prog
            .get(pc)
            .ok_or_else(|| format!("ran off the end at {pc}"))?;
        let k = ins.k;
        let class = ins.code & 0x07;
        let (at, next) = (pc, pc + 1);
        let jump = |off: u32| -> Result<usize, String> {
            let to = next + off as usize;
            if to >= prog.len() {
                return Err(format!("jump out of range at {at}"));
            }
            Ok(to)
        };
        pc = next;
        match class {
            0x00 | 0x01 => {
                // BPF_LD / BPF_LDX
                let value = match ins.code & 0xe0 {
                    0x00 => k,                      // BPF_IMM
                    0x60 => mem[(k & 15) as usize], // BPF_MEM
                    0x80 => bytes.len() as u32,     // BPF_LEN
                    0x20 if ins.code & 0x18 == 0 => {
                        // BPF_ABS | BPF_W, aligned, within seccomp_data
                        let off = k as usize;
                        if off & 3 != 0 || off + 4 > bytes.len() {
                            return Err(format!("bad load offset {off}"));
                        }
                        u32::from_ne_bytes(bytes[off..off + 4].try_into().expect("4 bytes"))
                    }
                    _ => return Err(format!("unsupported load {:#x}", ins.code)),
                };
                if class == 0x00 {
                    a = value;
                } else {
                    x = value;
                }
            }
            0x02 => mem[(k & 15) as usize] = a, // BPF_ST
            0x03 => mem[(k & 15) as usize] = x, // BPF_STX
            0x04 => {
                let src = if ins.code & 0x08 != 0 { x } else { k };
                a = match ins.code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 => a.checked_div(src).ok_or("division by zero")?,
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(src).ok_or("modulo by zero")?,
                    0xa0 => a ^ src,
                    op => return Err(format!("unsupported alu op {op:#x}")),
                };
            }
            0x05 => {
                let src = if ins.code & 0x08 != 0 { x } else { k };
                let taken = match ins.code & 0xf0 {
                    0x00 => {
                        pc = jump(k)?;
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    op => return Err(format!("unsupported jump op {op:#x}")),
                };
                pc = jump(u32::from(if taken { ins.jt } else { ins.jf }))?;
            }
            0x06 => {
                return Ok(match ins.code & 0x18 {
                    0x00 => k,
                    0x10 => a,
                    _ => return Err(format!("unsupported ret {:#x}", ins.code)),
                })
            }
            _ => match ins.code {
                0x07 => x = a, // BPF_MISC | BPF_TAX
                0x87 => a = x, // BPF_MISC | BPF_TXA
                code => return Err(format!("unsupported instruction {code:#x}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
        SockFilter { code, jt, jf, k }
    }

    #[test]
    fn loads_compares_and_returns() {
        // if (args[0] low word & 0xf0) == 0x30 return 1 else return nr
        let prog = [
            ins(0x20, 0, 0, 16),   // ld [args0 lo]
            ins(0x54, 0, 0, 0xf0), // and #0xf0
            ins(0x15, 0, 1, 0x30), // jeq #0x30
            ins(0x06, 0, 0, 1),
            ins(0x20, 0, 0, 0), // ld [nr]
            ins(0x16, 0, 0, 0), // ret a
        ];
        let hit = Data::new(0, 7).with_args([0x1234_5639, 0, 0, 0, 0, 0]);
        assert_eq!(run(&prog, &hit), Ok(1));
        assert_eq!(run(&prog, &Data::new(0, 7)), Ok(7));
    }

    #[test]
    fn rejects_what_the_kernel_rejects() {
        assert!(
            run(&[ins(0x20, 0, 0, 62)], &Data::default()).is_err(),
            "load past the end"
        );
        assert!(
            run(&[ins(0x05, 0, 0, 5)], &Data::default()).is_err(),
            "ja out of range"
        );
        assert!(
            run(&[ins(0x20, 0, 0, 0)], &Data::default()).is_err(),
            "no return"
        );
    }
}
