//! Small address types and syntax checks the answer file needs (std has no CIDR type).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// An interface address with its prefix, as `10.0.100.1/24` (host bits may be set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = s.split_once('/').ok_or_else(|| {
            format!("\"{s}\" is not in CIDR form ADDRESS/PREFIX, e.g. 10.0.100.1/24")
        })?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("\"{a}\" is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("prefix \"/{p}\" must be 0 to {max}"))?;
        Ok(Cidr { addr, prefix })
    }

    pub fn v4(&self) -> Option<Ipv4Cidr> {
        match self.addr {
            IpAddr::V4(addr) => Some(Ipv4Cidr {
                addr,
                prefix: self.prefix,
            }),
            IpAddr::V6(_) => None,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Cidr {
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr) & self.mask()
    }
    /// Inside the subnet and neither its network nor its broadcast address.
    pub fn contains_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && (self.prefix >= 31 || (ip != self.network() && ip != self.broadcast()))
    }
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }
    /// `10.0.100.0/24`: the subnet in the form firewall rules take.
    pub fn subnet(&self) -> String {
        format!("{}/{}", self.network(), self.prefix)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One DNS label: letters, digits and inner hyphens, 1-63 characters.
pub fn is_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

/// A fully qualified name with at least a host part and a domain (`atlas.home.arpa`);
/// the first label is the hostname and may not be all digits.
pub fn check_fqdn(s: &str) -> Result<(), String> {
    let labels: Vec<&str> = s.split('.').collect();
    if s.len() > 253 || labels.iter().any(|l| !is_label(l)) {
        return Err(format!(
            "\"{s}\" is not a valid FQDN: labels of letters, digits and inner hyphens, 1-63 characters each"
        ));
    }
    if labels.len() < 2 {
        return Err(format!(
            "\"{s}\" has no domain; Proxmox needs a fully qualified name such as \"{s}.home.arpa\""
        ));
    }
    if labels[0].bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("\"{s}\": the hostname part may not be all digits"));
    }
    // The names /etc/hosts gives the loopback: a host called so would have its management
    // line and the loopback's collide (and the agent rewrite the localhost line).
    if ["localhost", "ip6-localhost", "ip6-loopback"]
        .iter()
        .any(|l| labels[0].eq_ignore_ascii_case(l))
    {
        return Err(format!(
            "\"{s}\": \"{}\" is the loopback's name in /etc/hosts; give the host its own name",
            labels[0]
        ));
    }
    Ok(())
}

/// A host name or an IP address (NTP servers, image hosts).
pub fn is_host(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok() || (s.len() <= 253 && s.split('.').all(is_label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_math() {
        let c = Cidr::parse("10.0.100.1/24").unwrap().v4().unwrap();
        assert_eq!(c.subnet(), "10.0.100.0/24");
        assert!(c.contains_host("10.0.100.254".parse().unwrap()));
        assert!(!c.contains_host("10.0.100.255".parse().unwrap()));
        assert!(!c.contains("10.0.101.1".parse().unwrap()));
        let mgmt = Cidr::parse("10.0.0.10/16").unwrap().v4().unwrap();
        assert!(c.overlaps(&mgmt) && mgmt.overlaps(&c));
        assert!(Cidr::parse("10.0.0.1").is_err());
        assert!(Cidr::parse("10.0.0.1/33").is_err());
        assert!(Cidr::parse("fd00::1/64").is_ok());
    }

    #[test]
    fn names() {
        assert!(check_fqdn("atlas.home.arpa").is_ok());
        assert!(check_fqdn("atlas").is_err());
        assert!(check_fqdn("-a.b").is_err());
        assert!(check_fqdn("123.b").is_err());
    }
}
