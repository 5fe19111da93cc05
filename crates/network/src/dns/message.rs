//! The little of DNS (RFC 1035 §4) the responder needs: read a query's header and first
//! question, and build an answer of A or AAAA records, an empty NOERROR, NXDOMAIN or
//! SERVFAIL.
//! Everything else is forwarded as the client sent it.

use std::net::IpAddr;
#[cfg(test)]
use std::net::Ipv4Addr;

/// Record type A.
pub(crate) const TYPE_A: u16 = 1;
/// Record type AAAA.
pub(crate) const TYPE_AAAA: u16 = 28;
/// Class IN.
const CLASS_IN: u16 = 1;
/// Response codes.
pub(crate) const NOERROR: u8 = 0;
pub(crate) const SERVFAIL: u8 = 2;
const HEADER: usize = 12;

/// A query's first question.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    /// The message id.
    pub id: u16,
    /// The header's flags word as sent (opcode and RD are echoed).
    pub flags: u16,
    /// The name, lower-case, without the trailing dot.
    pub name: String,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// Where the question ends in the message.
    pub end: usize,
}

/// Parses a standard query with at least one question; None for anything else
/// (responses, other opcodes, compressed or truncated questions).
pub(crate) fn parse(msg: &[u8]) -> Option<Query> {
    if msg.len() < HEADER {
        return None;
    }
    let word = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    let (id, flags, qdcount) = (word(0), word(2), word(4));
    // QR must be 0 (a query) and the opcode 0 (QUERY).
    if flags & 0x8000 != 0 || (flags >> 11) & 0xf != 0 || qdcount == 0 {
        return None;
    }
    let mut labels = vec![];
    let mut i = HEADER;
    loop {
        let len = *msg.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        // 0xc0 marks a pointer: a question's name is never compressed by real clients.
        if len > 63 {
            return None;
        }
        let label = msg.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += len;
    }
    let tail = msg.get(i..i + 4)?;
    Some(Query {
        id,
        flags,
        name: labels.join("."),
        qtype: u16::from_be_bytes([tail[0], tail[1]]),
        qclass: u16::from_be_bytes([tail[2], tail[3]]),
        end: i + 4,
    })
}

/// The answer to `q` (whose message was `msg`): `rcode` with an A record per IPv4
/// address when the question asks for A in class IN, an AAAA record per IPv6 one when it
/// asks for AAAA (a name without addresses of that family gets an empty NOERROR). The
/// answer is authoritative (AA) for NOERROR and NXDOMAIN; recursion is offered (RA), as
/// the responder forwards other names.
pub(crate) fn answer(msg: &[u8], q: &Query, rcode: u8, addrs: &[IpAddr]) -> Vec<u8> {
    let ok = q.qclass == CLASS_IN && rcode == NOERROR;
    let addrs: Vec<Vec<u8>> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(v4) if ok && q.qtype == TYPE_A => Some(v4.octets().to_vec()),
            IpAddr::V6(v6) if ok && q.qtype == TYPE_AAAA => Some(v6.octets().to_vec()),
            _ => None,
        })
        .collect();
    let count = addrs.len() as u16;
    let aa = if rcode == SERVFAIL { 0 } else { 0x0400 };
    // QR, the query's opcode and RD, AA, RA, rcode.
    let flags = 0x8000 | (q.flags & 0x7900) | aa | 0x0080 | u16::from(rcode & 0xf);
    let mut out = Vec::with_capacity(q.end + 16 * count as usize);
    out.extend_from_slice(&q.id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    for n in [1u16, count, 0, 0] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    out.extend_from_slice(&msg[HEADER..q.end]);
    for a in addrs {
        // A pointer to the question's name at offset 12, the question's type, class IN,
        // TTL 0 (addresses change when containers are re-made), then the address.
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&q.qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, a.len() as u8]);
        out.extend_from_slice(&a);
    }
    out
}

/// A SERVFAIL for a message that parsed as `q`.
pub(crate) fn servfail(msg: &[u8], q: &Query) -> Vec<u8> {
    answer(msg, q, SERVFAIL, &[])
}

#[cfg(test)]
pub(crate) fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = vec![];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.').filter(|l| !l.is_empty()) {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6_octets(a: IpAddr) -> [u8; 16] {
        match a {
            IpAddr::V6(v) => v.octets(),
            IpAddr::V4(_) => [0; 16],
        }
    }

    #[test]
    fn parses_a_query() {
        let m = query(0x1234, "Web.Example.", TYPE_A);
        let q = parse(&m).unwrap();
        assert_eq!((q.id, q.name.as_str(), q.qtype), (0x1234, "web.example", 1));
        assert_eq!(q.end, m.len());
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        let mut resp = query(1, "a", TYPE_A);
        resp[2] |= 0x80;
        let mut ptr = query(1, "a", TYPE_A);
        ptr[12] = 0xc0;
        let mut noq = query(1, "a", TYPE_A);
        noq[5] = 0;
        for bad in [&b"short"[..], &resp, &ptr, &noq, &query(1, "a", 1)[..14]] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn answers_a_with_addresses_and_aaaa_empty() {
        let m = query(7, "web", TYPE_A);
        let q = parse(&m).unwrap();
        let ip: IpAddr = "10.1.0.2".parse::<Ipv4Addr>().unwrap().into();
        let a = answer(&m, &q, NOERROR, &[ip]);
        assert_eq!(&a[..2], &[0, 7]);
        assert_eq!(a[2] & 0x80, 0x80, "QR");
        assert_eq!(a[2] & 0x01, 0x01, "RD echoed");
        assert_eq!(a[3] & 0x0f, NOERROR);
        assert_eq!(&a[6..8], &[0, 1], "one answer");
        assert_eq!(&a[a.len() - 4..], &[10, 1, 0, 2]);
        let m6 = query(8, "web", 28);
        let q6 = parse(&m6).unwrap();
        let e = answer(&m6, &q6, NOERROR, &[ip]);
        assert_eq!((&e[6..8], e.len()), (&[0u8, 0][..], m6.len()));
        let v6: IpAddr = "fd00::2".parse().unwrap();
        let e = answer(&m6, &q6, NOERROR, &[ip, v6]);
        assert_eq!(&e[6..8], &[0, 1], "one AAAA");
        assert_eq!(&e[e.len() - 18..e.len() - 16], &[0, 16]);
        assert_eq!(&e[e.len() - 16..], &v6_octets(v6));
        assert_eq!(&answer(&m, &q, NOERROR, &[ip, v6])[6..8], &[0, 1], "one A");
        let nx = answer(&m, &q, 3, &[]);
        assert_eq!((nx[3] & 0x0f, &nx[6..8]), (3, &[0u8, 0][..]));
        assert_eq!(servfail(&m, &q)[3] & 0x0f, SERVFAIL);
    }
}
