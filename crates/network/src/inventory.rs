//! What links the host has (`ip -d link show`, over [`Netlink`]), and the mark berth puts
//! on the bridges it makes: the link's alias (`ip link set X alias`, `IFLA_IFALIAS`) says
//! `berth:<network id>:<store root>`, so `system check` can tell a bridge of a removed
//! network of this store from a bridge of someone else's that happens to be named alike
//! (Docker names its bridges `br-<12 hex>` too).

use std::io;
use std::path::Path;

use crate::netlink::{Netlink, Request, RTM_GETLINK, RTM_NEWLINK};

const NLM_F_DUMP: u16 = 0x300;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_IFALIAS: u16 = 20;
const IFLA_INFO_KIND: u16 = 1;
const MARK: &str = "berth:";

/// One link of the host.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Link {
    /// Its index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// The index of the bridge it is a port of (0: none).
    pub master: u32,
    /// `bridge`, `veth`, ... (empty for physical devices).
    pub kind: String,
    /// Its alias (empty when unset).
    pub alias: String,
}

/// Every link in this process's network namespace.
pub(crate) fn links(nl: &mut Netlink) -> io::Result<Vec<Link>> {
    let replies = nl.request(Request::new(RTM_GETLINK, NLM_F_DUMP).ifinfo(0, 0, 0))?;
    Ok(replies.iter().filter_map(|b| parse(b)).collect())
}

/// One RTM_NEWLINK payload: `struct ifinfomsg` (16 bytes), then attributes.
fn parse(b: &[u8]) -> Option<Link> {
    let index = u32::from_ne_bytes(b.get(4..8)?.try_into().ok()?);
    let mut link = Link {
        index,
        ..Link::default()
    };
    for (kind, data) in attrs(b.get(16..)?) {
        match kind {
            IFLA_IFNAME => link.name = cstr(data),
            IFLA_IFALIAS => link.alias = cstr(data),
            IFLA_MASTER if data.len() >= 4 => {
                link.master = u32::from_ne_bytes(data[..4].try_into().ok()?)
            }
            IFLA_LINKINFO => {
                for (k, d) in attrs(data) {
                    if k == IFLA_INFO_KIND {
                        link.kind = cstr(d);
                    }
                }
            }
            _ => {}
        }
    }
    Some(link)
}

/// The (type without flag bits, payload) attributes in `b`.
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = vec![];
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((kind, &b[4..len]));
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    out
}

fn cstr(d: &[u8]) -> String {
    let end = d.iter().position(|c| *c == 0).unwrap_or(d.len());
    String::from_utf8_lossy(&d[..end]).into_owned()
}

/// Sets link `index`'s alias to berth's mark for network `id` of the store at `root`.
pub(crate) fn mark(nl: &mut Netlink, index: u32, id: &str, root: &Path) -> io::Result<()> {
    let alias = format!("{MARK}{id}:{}", root.display());
    nl.request(
        Request::new(RTM_NEWLINK, 0)
            .ifinfo(index, 0, 0)
            .attr_str(IFLA_IFALIAS, &alias),
    )
    .map(drop)
}

/// Marks bridge `name` (see [`mark`]); a bridge that is gone is no error.
pub(crate) fn mark_bridge(name: &str, id: &str, root: &Path) -> crate::Result<()> {
    let err = crate::NetError::netlink("mark", name);
    let mut nl = Netlink::open().map_err(crate::NetError::netlink("open", "NETLINK_ROUTE"))?;
    match crate::link::index(&mut nl, name) {
        Ok(Some(i)) => mark(&mut nl, i, id, root).map_err(err),
        Ok(None) => Ok(()),
        Err(e) => Err(err(e)),
    }
}

/// The network id and store root of a bridge marked by [`mark`].
pub(crate) fn marked(alias: &str) -> Option<(&str, &Path)> {
    let (id, root) = alias.strip_prefix(MARK)?.split_once(':')?;
    Some((id, Path::new(root)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_link_and_its_mark() {
        let mut b = vec![0u8; 16];
        b[4..8].copy_from_slice(&7u32.to_ne_bytes());
        let mut attr = |kind: u16, data: &[u8]| {
            b.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
            b.extend_from_slice(&kind.to_ne_bytes());
            b.extend_from_slice(data);
            b.resize((b.len() + 3) & !3, 0);
        };
        attr(IFLA_IFNAME, b"br-x\0");
        attr(IFLA_MASTER, &3u32.to_ne_bytes());
        attr(IFLA_IFALIAS, b"berth:ab:/var/lib/berth\0");
        attr(
            IFLA_LINKINFO | 0x8000,
            &[11, 0, 1, 0, b'v', b'e', b't', b'h', 0, 0, 0, 0],
        );
        let l = parse(&b).unwrap();
        assert_eq!((l.index, l.master), (7, 3));
        assert_eq!((l.name.as_str(), l.kind.as_str()), ("br-x", "veth"));
        assert_eq!(marked(&l.alias), Some(("ab", Path::new("/var/lib/berth"))));
        assert_eq!(marked("docker"), None);
    }
}
