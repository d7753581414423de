//! The address guard: which addresses a URL a user gave may reach.
//!
//! Only `http` and `https`. A literal address is checked as it is; a name
//! is resolved once, every address it resolves to is checked (one refused
//! address refuses the name), and the connection is made to those checked
//! addresses (the HTTP client asks `GuardedResolver` and nothing else, so
//! no second lookup can answer differently). Refused: every special-purpose
//! range of the IANA registries (loopback, private, link-local, CGNAT,
//! multicast, unspecified, documentation, benchmarking, the metadata
//! address 169.254.169.254 …), IPv4-mapped, IPv4-compatible, NAT64, 6to4
//! and Teredo IPv6 (they embed an IPv4 address the range checks would not
//! see), unique-local and site-local IPv6.
//!
//! `FOLIO_OUTBOUND_ALLOW` (comma-separated addresses or CIDR blocks, empty
//! by default and in the template) lets tests and `make dev` reach a
//! receiver or media server on 127.0.0.1.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};

use ipnet::IpNet;
use reqwest::Url;

/// Special-purpose ranges, with the name a refusal gives.
const REFUSED: &[(&str, &str)] = &[
    ("0.0.0.0/8", "unspecified (\"this network\")"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (incl. the metadata address)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.31.196.0/24", "AS112"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("192.175.48.0/24", "AS112"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("::/96", "IPv4-compatible"),
    ("64:ff9b::/96", "NAT64"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignments (incl. Teredo)"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing"),
    ("fc00::/7", "unique-local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
];

/// How long a name may take to resolve.
pub const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

static REFUSED_NETS: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    REFUSED
        .iter()
        .map(|(net, why)| (net.parse().expect("a valid CIDR block"), *why))
        .collect()
});

/// Why a URL or an address was refused. The message names the address and
/// the range, never the URL (it may carry a secret in its query).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a valid URL")]
    BadUrl,
    #[error("only http and https URLs are allowed, not {0}")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("{0} is in the {1} range")]
    Address(IpAddr, &'static str),
    /// A name resolving into a refused range: the address itself is not
    /// shown (it would map a private network for whoever asks).
    #[error("{0} resolves to an address in the {1} range")]
    Resolved(String, &'static str),
    #[error("{0} does not resolve")]
    Unresolved(String),
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
}

/// The guard's settings.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allow: Arc<Vec<IpNet>>,
}

impl Guard {
    /// Refuses every special address: the default, and the template's.
    pub fn strict() -> Self {
        Guard::default()
    }

    /// Also lets through the addresses of `allow` (tests, `make dev`).
    pub fn allowing(allow: Vec<IpNet>) -> Self {
        Guard {
            allow: Arc::new(allow),
        }
    }

    /// `FOLIO_OUTBOUND_ALLOW`: addresses or CIDR blocks, comma-separated.
    pub fn from_env(env: &crate::settings::Env) -> Result<Self, crate::error::Error> {
        Guard::parse_allow(&env.optional("FOLIO_OUTBOUND_ALLOW").unwrap_or_default())
            .map_err(|e| crate::error::Error::internal(format!("FOLIO_OUTBOUND_ALLOW: {e}")))
    }

    /// The allow-list setting's value: addresses or CIDR blocks,
    /// comma-separated. Never the metadata service, never everything.
    pub fn parse_allow(raw: &str) -> Result<Self, String> {
        let metadata: [IpAddr; 2] = [
            IpAddr::from([169, 254, 169, 254]),
            IpAddr::from([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254]),
        ];
        let mut allow = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net = part
                .parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("FOLIO_OUTBOUND_ALLOW: \"{part}\" is not an address or CIDR block")
                })?;
            if net.prefix_len() == 0 || metadata.iter().any(|m| net.contains(m)) {
                return Err(format!(
                    "FOLIO_OUTBOUND_ALLOW: \"{part}\" would open the metadata service, or everything"
                ));
            }
            allow.push(net);
        }
        Ok(Guard::allowing(allow))
    }

    /// Whether the allow-list is on (it permits http, too).
    pub fn is_permissive(&self) -> bool {
        !self.allow.is_empty()
    }

    /// Ok when `ip` may be reached.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.allow.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match REFUSED_NETS.iter().find(|(net, _)| net.contains(&ip)) {
            Some((_, why)) => Err(Refused::Address(ip, why)),
            None => Ok(()),
        }
    }

    /// Parses and checks what can be checked without DNS: the scheme, the
    /// host, a literal address (in every spelling the URL standard reads as
    /// one: `2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]` are all parsed to
    /// the address they mean before the check).
    pub fn check_url(&self, raw: &str) -> Result<Url, Refused> {
        let url = Url::parse(raw).map_err(|_| Refused::BadUrl)?;
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(Refused::Scheme(other.chars().take(20).collect())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::Credentials);
        }
        match url.host() {
            None => return Err(Refused::NoHost),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) => {}
        }
        Ok(url)
    }

    /// Resolves `host` once (within `LOOKUP_TIMEOUT`) and checks every
    /// address: all of them, or none.
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, Refused> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let unresolved = || Refused::Unresolved(host.chars().take(253).collect());
        let addrs: Vec<SocketAddr> =
            tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, 0)))
                .await
                .map_err(|_| unresolved())?
                .map_err(|_| unresolved())?
                .collect();
        self.check_addrs(host, &addrs)?;
        Ok(addrs)
    }

    /// The check `resolve` makes on what a lookup answered.
    pub fn check_addrs(&self, host: &str, addrs: &[SocketAddr]) -> Result<(), Refused> {
        if addrs.is_empty() {
            return Err(Refused::Unresolved(host.chars().take(253).collect()));
        }
        addrs.iter().try_for_each(|a| {
            self.check_ip(a.ip()).map_err(|e| match e {
                Refused::Address(_, why) => {
                    Refused::Resolved(host.chars().take(253).collect(), why)
                }
                other => other,
            })
        })
    }
}

/// The HTTP client's only resolver: every name it connects to is resolved
/// and checked here, so the connection goes to a checked address.
#[derive(Debug, Clone)]
pub struct GuardedResolver(pub Guard);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let addrs = guard.resolve(name.as_str()).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(guard: &Guard, url: &str) -> Refused {
        guard.check_url(url).expect_err(url)
    }

    #[test]
    fn every_spelling_of_loopback_is_refused() {
        let g = Guard::strict();
        for url in [
            "http://127.0.0.1:8080/",
            "http://2130706433:8080/",
            "http://0x7f.1:8080/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::ffff:127.0.0.1]:8080/",
            "http://[::ffff:7f00:1]/",
            "http://[::1]:8080/",
            "http://[::127.0.0.1]/",
            "http://0.0.0.0/",
            "http://[::]/",
        ] {
            assert!(
                matches!(refused(&g, url), Refused::Address(..)),
                "{url}: {:?}",
                g.check_url(url)
            );
        }
    }

    #[test]
    fn special_ranges_are_refused_and_public_addresses_are_not() {
        let g = Guard::strict();
        for ip in [
            "169.254.169.254",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001:0:4136:e378::1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(g.check_ip(ip).is_err(), "{ip} should be refused");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(g.check_ip(ip), Ok(()), "{ip} is public");
        }
        assert_eq!(
            g.check_ip("169.254.169.254".parse().unwrap())
                .unwrap_err()
                .to_string(),
            "169.254.169.254 is in the link-local (incl. the metadata address) range"
        );
    }

    #[test]
    fn only_http_and_https_without_credentials() {
        let g = Guard::strict();
        assert_eq!(
            refused(&g, "file:///etc/passwd"),
            Refused::Scheme("file".into())
        );
        assert_eq!(
            refused(&g, "gopher://example.com/"),
            Refused::Scheme("gopher".into())
        );
        assert_eq!(refused(&g, "not a url"), Refused::BadUrl);
        assert_eq!(
            refused(&g, "https://user:pw@example.com/"),
            Refused::Credentials
        );
        assert!(g.check_url("https://example.com/hook?x=1").is_ok());
    }

    #[test]
    fn a_name_is_refused_if_any_of_its_addresses_is() {
        let g = Guard::strict();
        let public: SocketAddr = "93.184.216.34:0".parse().unwrap();
        let private: SocketAddr = "10.0.0.1:0".parse().unwrap();
        assert_eq!(g.check_addrs("example.com", &[public]), Ok(()));
        let refused = g
            .check_addrs("rebind.example", &[public, private])
            .unwrap_err();
        assert_eq!(
            refused,
            Refused::Resolved("rebind.example".into(), "private")
        );
        assert!(
            !refused.to_string().contains("10.0.0.1"),
            "not shown: {refused}"
        );
        assert!(matches!(
            g.check_addrs("nothing.example", &[]),
            Err(Refused::Unresolved(_))
        ));
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_by_the_resolver() {
        // `localhost` resolves from /etc/hosts, without any network.
        let g = Guard::strict();
        assert!(matches!(
            g.resolve("localhost").await,
            Err(Refused::Resolved(..))
        ));
        let allowed = Guard::allowing(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]);
        assert!(allowed.resolve("localhost").await.is_ok());
    }

    #[test]
    fn the_allow_list_cannot_open_the_metadata_service_or_everything() {
        for bad in [
            "0.0.0.0/0",
            "169.254.0.0/16",
            "169.254.169.254",
            "::/0",
            "fd00::/8",
        ] {
            assert!(Guard::parse_allow(bad).is_err(), "{bad}");
        }
        assert!(Guard::parse_allow("127.0.0.1/32, ::1/128").is_ok());
        assert!(Guard::parse_allow("10.1.2.0/24").is_ok());
        assert!(Guard::parse_allow("nonsense").is_err());
    }

    #[test]
    fn the_allow_list_lets_through_only_what_it_names() {
        let g = Guard::allowing(vec!["127.0.0.1/32".parse().unwrap()]);
        assert!(g.check_url("http://127.0.0.1:9/").is_ok());
        assert!(
            g.check_url("http://2130706433:9/").is_ok(),
            "the same address"
        );
        assert!(g.check_url("http://127.0.0.2:9/").is_err());
        assert!(g.check_url("http://[::1]:9/").is_err());
        assert!(
            g.check_url("http://[::ffff:127.0.0.1]:9/").is_err(),
            "mapped stays refused"
        );
        assert!(g.check_ip("10.0.0.1".parse().unwrap()).is_err());
    }
}
