//! bpf(2) for cgroup v2 device filters.
//!
//! cgroup v2 has no `devices.allow`; access to device nodes is decided by
//! `BPF_PROG_TYPE_CGROUP_DEVICE` programs attached to the cgroup directory
//! (<https://docs.kernel.org/admin-guide/cgroup-v2.html#device-controller>).
//! This module only moves bytes across the syscall boundary: assembling the
//! program is the caller's job (berth-cgroups), loading, attaching, listing
//! and detaching it happen here. `libc` has no `union bpf_attr`, so each
//! command gets its own `#[repr(C)]` prefix of that union; the kernel accepts a
//! shorter attr and treats the missing tail as zero.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

// enum bpf_cmd in include/uapi/linux/bpf.h.
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
// enum bpf_prog_type / enum bpf_attach_type.
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Several programs may be attached to one cgroup and all of them must allow
/// an access; also lets a nested runtime add its own filter below ours.
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
/// Size of the verifier log we ask for when a load fails.
const LOG_SIZE: usize = 64 * 1024;

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Insn {
    /// Opcode: class | size/op | mode/source.
    pub code: u8,
    /// Destination register in the low nibble, source register in the high one.
    pub regs: u8,
    /// Signed offset (jump distance in instructions, or memory offset).
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// Builds an instruction from its fields.
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            regs: (src << 4) | (dst & 0x0f),
            off,
            imm,
        }
    }

    /// The destination register.
    pub const fn dst(&self) -> u8 {
        self.regs & 0x0f
    }

    /// The source register.
    pub const fn src(&self) -> u8 {
        self.regs >> 4
    }
}

/// `union bpf_attr` as used by `BPF_PROG_LOAD`, up to `expected_attach_type`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` as used by `BPF_PROG_ATTACH` and `BPF_PROG_DETACH`.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `union bpf_attr` as used by `BPF_PROG_QUERY`, without the newer tail.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// `union bpf_attr` as used by `BPF_PROG_GET_FD_BY_ID`.
#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// Calls bpf(2) with one of the attr structs above.
///
/// Only the private `#[repr(C)]` attr types of this module are passed here,
/// and every pointer they carry is set up by the caller to outlive the call.
fn sys_bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed `#[repr(C)]` value whose
    // layout is a prefix of `union bpf_attr` for `cmd`, and we pass its exact
    // size; the kernel reads (and for QUERY writes) at most that many bytes.
    // Any user pointers inside it are valid for the duration of the call
    // (guaranteed by the callers below).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Wraps a file descriptor number the kernel just returned to us.
fn owned_fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    let fd = libc::c_int::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: bpf(2) returned a new descriptor that nothing else owns; we take
    // sole ownership so it is closed exactly once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn load_attr(insns: &[Insn], license: &CStr, name: &str) -> io::Result<ProgLoadAttr> {
    let insn_cnt =
        u32::try_from(insns.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    // The kernel wants [A-Za-z0-9_.] and a NUL within 16 bytes.
    let clean = name
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.');
    for (slot, b) in attr.prog_name.iter_mut().take(15).zip(clean) {
        *slot = b;
    }
    Ok(attr)
}

/// Loads a `BPF_PROG_TYPE_CGROUP_DEVICE` program and returns its fd.
///
/// `name` is shown by `bpftool prog` (truncated to 15 characters). When the
/// verifier rejects the program the load is repeated with a log buffer and
/// the log is appended to the error message.
pub fn load_cgroup_device_prog(insns: &[Insn], license: &CStr, name: &str) -> io::Result<OwnedFd> {
    let mut attr = load_attr(insns, license, name)?;
    let first = match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => return owned_fd(fd),
        Err(e) => e,
    };
    if !matches!(
        first.raw_os_error(),
        Some(libc::EACCES) | Some(libc::EINVAL)
    ) {
        return Err(first);
    }
    let mut log = vec![0u8; LOG_SIZE];
    let mut attr = load_attr(insns, license, name)?;
    attr.log_level = 1;
    attr.log_size = LOG_SIZE as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    // `log` outlives this call, which is all the kernel needs from log_buf.
    match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => owned_fd(fd),
        Err(_) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            Err(io::Error::new(
                first.kind(),
                format!("{first}; verifier log: {}", text.trim()),
            ))
        }
    }
}

/// Attaches a loaded device program to the cgroup directory `cgroup`
/// (opened read-only, not `O_PATH`) with `BPF_F_ALLOW_MULTI`.
pub fn attach_cgroup_device(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    sys_bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// Detaches the device program `prog` from the cgroup directory `cgroup`.
pub fn detach_cgroup_device(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    sys_bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// Lists the ids of the device programs attached directly to `cgroup`
/// (not the ones inherited from its ancestors).
pub fn query_cgroup_device(cgroup: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    // The kernel caps a cgroup at 64 programs per attach type today; grow on
    // ENOSPC in case that changes.
    let mut cap = 64usize;
    loop {
        let mut ids = vec![0u32; cap];
        let mut attr = QueryAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: cap as u32,
            ..Default::default()
        };
        // `ids` has room for `prog_cnt` ids and outlives the call.
        match sys_bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && cap < 1 << 16 => {
                cap = (attr.prog_cnt as usize).max(cap * 2);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Opens the loaded program with kernel id `id`.
pub fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        ..Default::default()
    };
    owned_fd(sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insn_matches_struct_bpf_insn() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        let i = Insn::new(0x61, 2, 1, 4, -1);
        assert_eq!((i.dst(), i.src(), i.regs), (2, 1, 0x12));
    }

    #[test]
    fn attr_sizes_match_kernel_prefixes() {
        // Offsets from include/uapi/linux/bpf.h; a wrong size would make the
        // kernel read garbage or reject the call with E2BIG/EINVAL.
        assert_eq!(std::mem::size_of::<ProgLoadAttr>(), 72);
        assert_eq!(std::mem::size_of::<AttachAttr>(), 20);
        assert_eq!(std::mem::size_of::<QueryAttr>(), 32);
        assert_eq!(std::mem::size_of::<GetFdByIdAttr>(), 12);
    }

    #[test]
    fn prog_name_is_sanitised() {
        let lic = c"GPL";
        let attr = load_attr(&[], lic, "berth-dev/filter_with_long_name").unwrap();
        assert_eq!(&attr.prog_name[..15], b"berthdevfilter_");
        assert_eq!(attr.prog_name[15], 0);
    }
}
