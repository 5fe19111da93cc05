//! A cache of compiled programs, so a profile used again (Docker's default, a pod's
//! profile) costs one file read at create instead of a libseccomp build.
//!
//! The key is [`digest`]: the sha256 of the `linux.seccomp` object as serde writes it back
//! (field order fixed by the type, so equal objects give equal bytes). The entry is
//! `<dir>/<digest>.bpf`:
//!
//! ```text
//! "berth-seccomp-cache 1\n"  magic and format version
//! fingerprint   32 bytes     sha256 of what else decides the program (see `fingerprint`)
//! digest        32 bytes     the key again, so a renamed file is not believed
//! flags         u32 LE       seccomp(2) flags
//! unknown       u32 LE count, then per name: u16 LE length + bytes
//! program       u32 LE count, then 8 bytes per instruction (host order, as the kernel reads)
//! checksum      32 bytes     sha256 of everything above
//! ```
//!
//! A file that is short, torn, from another build, kernel or libseccomp, or fails its
//! checksum is ignored and rewritten. Entries are written to a temporary name and renamed
//! into place, so readers see a whole file or none; no fsync: a file torn by a crash fails
//! its checksum. Cache trouble never fails a create: the profile is compiled instead.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use berth_sys::seccomp::{SockFilter, MAX_INSNS};

use super::{compile, CompiledFilter, SeccompError};

const MAGIC: &[u8] = b"berth-seccomp-cache 1\n";

/// The hex sha256 of `s` as serde serialises it: the cache key, also shown by the engine.
pub fn digest(s: &LinuxSeccomp) -> String {
    hex(&digest_bytes(s))
}

fn digest_bytes(s: &LinuxSeccomp) -> [u8; 32] {
    // Serialising a derived struct of strings and numbers cannot fail.
    let bytes = serde_json::to_vec(s).unwrap_or_default();
    Sha256::digest(&bytes).into()
}

/// [`compile`] through the cache in `dir` (made 0700 when missing).
pub fn compile_cached(
    s: &LinuxSeccomp,
    dir: &Path,
) -> Result<Option<CompiledFilter>, SeccompError> {
    let key = digest_bytes(s);
    let path = dir.join(format!("{}.bpf", hex(&key)));
    let fp = fingerprint();
    if let Some(f) = fs::read(&path).ok().and_then(|b| decode(&b, &fp, &key)) {
        return Ok(Some(f));
    }
    let compiled = compile(s)?;
    if let Some(f) = &compiled {
        let _ = store(dir, &path, &encode(f, &fp, &key));
    }
    Ok(compiled)
}

/// What besides the profile decides the program: this format, the compiler's own source
/// (a changed stub or translation must not reuse old programs), the libseccomp version
/// (its tables and code generator), the native architecture, and the kernel release
/// (flags are checked against the running kernel).
fn fingerprint() -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(env!("CARGO_PKG_VERSION"));
    h.update(SOURCE_HASH.to_le_bytes());
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        h.update(format!("{}.{}.{}", v.major, v.minor, v.micro));
    }
    h.update(std::env::consts::ARCH);
    if let Ok(u) = nix::sys::utsname::uname() {
        h.update(u.release().as_encoded_bytes());
    }
    h.finalize().into()
}

/// FNV-1a of the compiler's source, computed at build time.
const SOURCE_HASH: u64 = {
    let parts: [&[u8]; 5] = [
        include_bytes!("compile.rs"),
        include_bytes!("enosys.rs"),
        include_bytes!("rules.rs"),
        include_bytes!("tables.rs"),
        include_bytes!("cache.rs"),
    ];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut p = 0;
    while p < parts.len() {
        let mut i = 0;
        while i < parts[p].len() {
            h ^= parts[p][i] as u64;
            h = h.wrapping_mul(0x100_0000_01b3);
            i += 1;
        }
        p += 1;
    }
    h
};

fn encode(f: &CompiledFilter, fp: &[u8; 32], key: &[u8; 32]) -> Vec<u8> {
    let mut b = Vec::with_capacity(128 + f.program.len() * 8);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(fp);
    b.extend_from_slice(key);
    b.extend_from_slice(&f.flags.to_le_bytes());
    b.extend_from_slice(&(f.unknown.len() as u32).to_le_bytes());
    for n in &f.unknown {
        let n = &n.as_bytes()[..n.len().min(u16::MAX as usize)];
        b.extend_from_slice(&(n.len() as u16).to_le_bytes());
        b.extend_from_slice(n);
    }
    b.extend_from_slice(&(f.program.len() as u32).to_le_bytes());
    for i in &f.program {
        b.extend_from_slice(&i.code.to_ne_bytes());
        b.extend_from_slice(&[i.jt, i.jf]);
        b.extend_from_slice(&i.k.to_ne_bytes());
    }
    let sum: [u8; 32] = Sha256::digest(&b).into();
    b.extend_from_slice(&sum);
    b
}

/// The entry in `b`, if it is whole, ours and for `key`.
fn decode(b: &[u8], fp: &[u8; 32], key: &[u8; 32]) -> Option<CompiledFilter> {
    let (body, sum) = b.split_at_checked(b.len().checked_sub(32)?)?;
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let mut r = Reader(body.strip_prefix(MAGIC)?);
    if r.take(32)? != fp || r.take(32)? != key {
        return None;
    }
    let flags = r.u32()?;
    let mut unknown = Vec::new();
    for _ in 0..r.u32()? {
        let len = u16::from_le_bytes(r.take(2)?.try_into().ok()?) as usize;
        unknown.push(String::from_utf8(r.take(len)?.to_vec()).ok()?);
    }
    let n = r.u32()? as usize;
    if n == 0 || n > MAX_INSNS {
        return None;
    }
    let program = r
        .take(n.checked_mul(8)?)?
        .chunks_exact(8)
        .map(|c| SockFilter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    r.0.is_empty().then_some(CompiledFilter {
        program,
        flags,
        unknown,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = self.0.split_at_checked(n)?;
        self.0 = b;
        Some(a)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

/// Write `bytes` to `path` through a temporary file in `dir`, then rename.
fn store(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp: PathBuf = dir.join(format!(".tmp-{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = f.write_all(bytes).and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use super::*;

    fn docker_sized() -> LinuxSeccomp {
        let native = libseccomp::ScmpArch::native();
        let names: Vec<String> = (0..460)
            .filter_map(|nr| {
                libseccomp::ScmpSyscall::from_raw_syscall(nr)
                    .get_name_by_arch(native)
                    .ok()
            })
            .filter(|n| n != "mkdir")
            .collect();
        serde_json::from_value(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "syscalls": [
                {"names": names, "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["no_such_call"], "action": "SCMP_ACT_ALLOW"},
            ],
        }))
        .expect("profile")
    }

    #[test]
    fn a_hit_gives_the_same_filter_and_bad_entries_are_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = docker_sized();
        let fresh = compile(&s).expect("compile").expect("filter");
        let first = compile_cached(&s, dir.path())
            .expect("miss")
            .expect("filter");
        assert_eq!(first, fresh);
        assert_eq!(first.unknown_syscalls(), ["no_such_call"]);
        let path = dir.path().join(format!("{}.bpf", digest(&s)));
        let good = fs::read(&path).expect("entry written");
        assert_eq!(
            compile_cached(&s, dir.path()).expect("hit"),
            Some(fresh.clone())
        );

        // Torn, flipped, or another profile's entry under this name: recompiled, rewritten.
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 1;
        let other = {
            let o: LinuxSeccomp = serde_json::from_value(json!({"defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}))
            .expect("other");
            encode(
                &compile(&o).expect("c").expect("f"),
                &fingerprint(),
                &digest_bytes(&o),
            )
        };
        for bad in [good[..good.len() - 9].to_vec(), flipped, other, vec![]] {
            fs::write(&path, &bad).expect("write bad entry");
            assert_eq!(
                compile_cached(&s, dir.path()).expect("recompile"),
                Some(fresh.clone())
            );
            assert_eq!(fs::read(&path).expect("rewritten"), good);
        }
    }

    #[test]
    fn digest_follows_content() {
        let a = docker_sized();
        let mut b = a.clone();
        b.set_default_errno_ret(Some(2));
        assert_eq!(digest(&a), digest(&a.clone()));
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(digest(&a).len(), 64);
    }

    /// Prints what a hit saves: `cargo test -p berth-runtime --release cache_cost -- --nocapture`.
    #[test]
    fn cache_cost() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = docker_sized();
        let n = 20;
        let t = Instant::now();
        for _ in 0..n {
            compile(&s).expect("compile");
        }
        let cold = t.elapsed() / n;
        compile_cached(&s, dir.path()).expect("fill");
        let t = Instant::now();
        for _ in 0..n {
            compile_cached(&s, dir.path()).expect("hit");
        }
        let hit = t.elapsed() / n;
        println!("seccomp compile {cold:?}, cache hit {hit:?}");
    }
}
