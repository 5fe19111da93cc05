//! Mount option words (`ro`, `nosuid`, `rprivate`, `rro`, `idmap`, ...) to flags and data.

use nix::mount::MsFlags;

/// What one option word means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountOpt {
    /// Set these flags.
    Set(MsFlags),
    /// Clear these flags.
    Clear(MsFlags),
    /// A propagation type, applied with a separate mount(2) call.
    Propagation(MsFlags),
    /// A recursive attribute (`rro`, `rnosuid`, ...) applied with mount_setattr.
    Recursive(u64),
    /// Copy what the image has at the destination into the new tmpfs (`tmpcopyup`,
    /// Podman's option for `--read-only` containers).
    TmpCopyUp,
    /// Make the mount idmapped (`idmap`/`ridmap`).
    Idmap {
        /// Apply to submounts too.
        recursive: bool,
    },
}

/// Parse one option word; `None` means it is filesystem data (e.g. `size=64m`, `mode=755`).
pub fn parse_option(word: &str) -> Option<MountOpt> {
    use MountOpt::*;
    let f = |x| Some(Set(x));
    let c = |x| Some(Clear(x));
    match word {
        "defaults" => Some(Clear(MsFlags::empty())),
        "ro" => f(MsFlags::MS_RDONLY),
        "rw" => c(MsFlags::MS_RDONLY),
        "suid" => c(MsFlags::MS_NOSUID),
        "nosuid" => f(MsFlags::MS_NOSUID),
        "dev" => c(MsFlags::MS_NODEV),
        "nodev" => f(MsFlags::MS_NODEV),
        "exec" => c(MsFlags::MS_NOEXEC),
        "noexec" => f(MsFlags::MS_NOEXEC),
        "sync" => f(MsFlags::MS_SYNCHRONOUS),
        "async" => c(MsFlags::MS_SYNCHRONOUS),
        "dirsync" => f(MsFlags::MS_DIRSYNC),
        "remount" => f(MsFlags::MS_REMOUNT),
        "mand" => f(MsFlags::MS_MANDLOCK),
        "nomand" => c(MsFlags::MS_MANDLOCK),
        "atime" => c(MsFlags::MS_NOATIME),
        "noatime" => f(MsFlags::MS_NOATIME),
        "diratime" => c(MsFlags::MS_NODIRATIME),
        "nodiratime" => f(MsFlags::MS_NODIRATIME),
        "relatime" => f(MsFlags::MS_RELATIME),
        "norelatime" => c(MsFlags::MS_RELATIME),
        "strictatime" => f(MsFlags::MS_STRICTATIME),
        "nostrictatime" => c(MsFlags::MS_STRICTATIME),
        "bind" => f(MsFlags::MS_BIND),
        "rbind" => f(MsFlags::MS_BIND | MsFlags::MS_REC),
        "silent" => f(MsFlags::MS_SILENT),
        "loud" => c(MsFlags::MS_SILENT),
        "lazytime" => f(MsFlags::MS_LAZYTIME),
        "nolazytime" => c(MsFlags::MS_LAZYTIME),
        "nosymfollow" => f(MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "symfollow" => c(MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "private" => Some(Propagation(MsFlags::MS_PRIVATE)),
        "rprivate" => Some(Propagation(MsFlags::MS_PRIVATE | MsFlags::MS_REC)),
        "shared" => Some(Propagation(MsFlags::MS_SHARED)),
        "rshared" => Some(Propagation(MsFlags::MS_SHARED | MsFlags::MS_REC)),
        "slave" => Some(Propagation(MsFlags::MS_SLAVE)),
        "rslave" => Some(Propagation(MsFlags::MS_SLAVE | MsFlags::MS_REC)),
        "unbindable" => Some(Propagation(MsFlags::MS_UNBINDABLE)),
        "runbindable" => Some(Propagation(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC)),
        "rro" => Some(Recursive(0x1)),
        "rnosuid" => Some(Recursive(0x2)),
        "rnodev" => Some(Recursive(0x4)),
        "rnoexec" => Some(Recursive(0x8)),
        "rnoatime" => Some(Recursive(0x10)),
        "rnosymfollow" => Some(Recursive(0x0020_0000)),
        "tmpcopyup" => Some(TmpCopyUp),
        "idmap" => Some(Idmap { recursive: false }),
        "ridmap" => Some(Idmap { recursive: true }),
        _ => None,
    }
}

/// All options of one mount, folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount(2) call.
    pub flags: MsFlags,
    /// Propagation changes, applied in order after the mount.
    pub propagation: Vec<MsFlags>,
    /// mount_setattr attributes to set recursively.
    pub recursive: u64,
    /// Idmapped mount requested: Some(recursive).
    pub idmap: Option<bool>,
    /// Copy the destination's previous contents into the new tmpfs.
    pub copy_up: bool,
    /// Comma-joined filesystem data.
    pub data: String,
}

/// `flags` minus `remove`, keeping bits nix has no name for (MS_NOSYMFOLLOW): bitflags'
/// `!` would truncate them away.
pub fn without(flags: MsFlags, remove: MsFlags) -> MsFlags {
    MsFlags::from_bits_retain(flags.bits() & !remove.bits())
}

/// Fold a list of option words.
pub fn parse_options<S: AsRef<str>>(words: &[S]) -> MountOptions {
    let mut out = MountOptions {
        flags: MsFlags::empty(),
        propagation: vec![],
        recursive: 0,
        idmap: None,
        copy_up: false,
        data: String::new(),
    };
    let mut data = Vec::new();
    for w in words {
        match parse_option(w.as_ref()) {
            Some(MountOpt::Set(f)) => out.flags |= f,
            Some(MountOpt::Clear(f)) => out.flags = without(out.flags, f),
            Some(MountOpt::Propagation(p)) => out.propagation.push(p),
            Some(MountOpt::Recursive(a)) => out.recursive |= a,
            Some(MountOpt::Idmap { recursive }) => out.idmap = Some(recursive),
            Some(MountOpt::TmpCopyUp) => out.copy_up = true,
            None => data.push(w.as_ref()),
        }
    }
    out.data = data.join(",");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_flags_data_and_propagation() {
        let o = parse_options(&[
            "rbind", "ro", "nosuid", "rslave", "size=64m", "mode=755", "rw",
        ]);
        assert_eq!(
            o.flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_NOSUID
        );
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data, "size=64m,mode=755");
        let o = parse_options(&["nosymfollow", "rro", "idmap", "rw"]);
        assert_eq!(o.flags.bits(), libc::MS_NOSYMFOLLOW);
        assert_eq!(o.recursive, 1);
        assert_eq!(o.idmap, Some(false));
    }
}
