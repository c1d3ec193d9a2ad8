//! The lab's authoritative DNS server (hickory-server, UDP and TCP on one loopback port): the
//! lab names (and every one-label name under `sipa-lab.test`) resolve to the loopback origin
//! address, everything else is NXDOMAIN. The login hosts publish an HTTPS record (type 65) as
//! a real front end would: ServiceMode, alpn h2, the A answer as ipv4hint.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, MessageType, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::svcb::{Alpn, IpHint, SVCB, SvcParamKey, SvcParamValue};
use hickory_server::proto::rr::rdata::{A, AAAA, HTTPS};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use super::conn::wan_delay;
use super::fault::Fault;
use super::world::{LOGIN_HOSTS, LabError, ORIGIN_IP, is_lab_host};

/// TTL of every lab record, as the real login hosts' records are minutes long.
const RECORD_TTL: u32 = 300;
/// How long a TCP client may stay silent before the server drops it.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// The login host whose HTTPS record's ipv4hint `https-hint-bypass` moves.
pub const HINT_BYPASS_HOST: &str = "login.microsoftonline.com";
/// Where `https-hint-bypass` points that hint: a loopback address none of the lab gateway's
/// doors listens on, standing for a front end reached around the gateway.
pub const HINT_BYPASS_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 99);
/// The faults under which the lab answers QUIC on UDP 443, so its HTTPS records offer `h3`
/// beside `h2`.
const H3_FAULTS: &[Fault] = &[Fault::QuicOpen, Fault::QuicOpenUnanchored];

/// What the lab zone says about one question.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ZoneAnswer {
    Records(Vec<RData>),
    /// The name exists but has no record of that type (NOERROR, empty answer).
    NoData,
    NxDomain,
    ServFail,
}

/// The lab names, with the DNS faults applied.
pub(crate) struct LabZone {
    faults: BTreeSet<Fault>,
    latency: Duration,
}

impl LabZone {
    pub(crate) fn new(faults: &BTreeSet<Fault>, latency: Duration) -> Self {
        LabZone {
            faults: faults.clone(),
            latency,
        }
    }

    /// `name` is lower case without the trailing dot.
    fn lookup(&self, name: &str, record_type: RecordType) -> ZoneAnswer {
        if !is_lab_host(name) {
            return ZoneAnswer::NxDomain;
        }
        if name == "login.windows.net" {
            if self.faults.contains(&Fault::DnsServfail) {
                return ZoneAnswer::ServFail;
            }
            if self.faults.contains(&Fault::DnsNxdomain) {
                return ZoneAnswer::NxDomain;
            }
        }
        match record_type {
            RecordType::A => ZoneAnswer::Records(vec![RData::A(A(ORIGIN_IP))]),
            RecordType::AAAA
                if self.faults.contains(&Fault::Ipv6Bypass) && LOGIN_HOSTS.contains(&name) =>
            {
                ZoneAnswer::Records(vec![RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))])
            }
            RecordType::HTTPS if LOGIN_HOSTS.contains(&name) => {
                ZoneAnswer::Records(vec![self.https_record(name)])
            }
            _ => ZoneAnswer::NoData,
        }
    }

    /// A login host's HTTPS record: ServiceMode (priority 1, target "." for the owner), alpn h2
    /// (h3 first when the lab answers QUIC), hints equal to the address answers, keys in
    /// ascending order as RFC 9460 writes them.
    fn https_record(&self, name: &str) -> RData {
        let mut alpn = Vec::new();
        if H3_FAULTS.iter().any(|f| self.faults.contains(f)) {
            alpn.push("h3".to_owned());
        }
        alpn.push("h2".to_owned());
        let ipv4hint = if name == HINT_BYPASS_HOST && self.faults.contains(&Fault::HttpsHintBypass)
        {
            HINT_BYPASS_IP
        } else {
            ORIGIN_IP
        };
        let mut params = vec![
            (SvcParamKey::Alpn, SvcParamValue::Alpn(Alpn(alpn))),
            (
                SvcParamKey::Ipv4Hint,
                SvcParamValue::Ipv4Hint(IpHint(vec![A(ipv4hint)])),
            ),
        ];
        if self.faults.contains(&Fault::Ipv6Bypass) {
            params.push((
                SvcParamKey::Ipv6Hint,
                SvcParamValue::Ipv6Hint(IpHint(vec![AAAA(Ipv6Addr::LOCALHOST)])),
            ));
        }
        RData::HTTPS(HTTPS(SVCB::new(1, Name::root(), params)))
    }

    async fn respond<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        wan_delay(self.latency).await;

        let response_edns = request.edns.as_ref().map(|asked| {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload().max(512));
            edns
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(edns) = &response_edns {
            builder.edns(edns);
        }

        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;

        let queries = request.queries.queries();
        let answer = if request.metadata.message_type != MessageType::Query {
            Err(ResponseCode::FormErr)
        } else if request.metadata.op_code != OpCode::Query {
            Err(ResponseCode::NotImp)
        } else if let [query] = queries {
            let name = query.name().to_string().to_ascii_lowercase();
            let name = name.strip_suffix('.').unwrap_or(&name);
            match self.lookup(name, query.query_type()) {
                ZoneAnswer::Records(data) => {
                    let owner: Name = query.name().into();
                    Ok(data
                        .into_iter()
                        .map(|rdata| Record::from_rdata(owner.clone(), RECORD_TTL, rdata))
                        .collect::<Vec<_>>())
                }
                ZoneAnswer::NoData => Ok(Vec::new()),
                ZoneAnswer::NxDomain => Err(ResponseCode::NXDomain),
                ZoneAnswer::ServFail => Err(ResponseCode::ServFail),
            }
        } else {
            Err(ResponseCode::FormErr)
        };

        let fallback = {
            let mut failed = metadata;
            failed.response_code = ResponseCode::ServFail;
            ResponseInfo::from(hickory_server::proto::op::Header {
                metadata: failed,
                counts: Default::default(),
            })
        };
        let sent = match answer {
            Ok(records) => {
                let response = builder.build(metadata, records.iter(), [], [], []);
                response_handle.send_response(response).await
            }
            Err(code) => {
                // A lame or failing server is not authoritative for what it refuses.
                metadata.authoritative = code == ResponseCode::NXDomain;
                metadata.response_code = code;
                let response = builder.build(metadata, [], [], [], []);
                response_handle.send_response(response).await
            }
        };
        sent.unwrap_or(fallback)
    }
}

impl RequestHandler for LabZone {
    // hickory declares this trait with `#[async_trait]`; this is that macro's expansion, written
    // out so the lab needs no proc-macro dependency of its own.
    fn handle_request<'life0, 'life1, 'async_trait, R, T>(
        &'life0 self,
        request: &'life1 Request,
        response_handle: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'async_trait>>
    where
        R: ResponseHandler + 'async_trait,
        T: Time + 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.respond(request, response_handle))
    }
}

/// Binds UDP and TCP on the same free loopback port. The port is picked by the kernel for UDP,
/// and may be taken for TCP by someone else meanwhile: then the lab tries another.
pub(crate) async fn bind() -> Result<(UdpSocket, TcpListener), LabError> {
    let any_port = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let udp = UdpSocket::bind(any_port)
            .await
            .map_err(|source| LabError::Bind {
                listener: "DNS (UDP)",
                addr: any_port,
                source,
            })?;
        let addr = udp.local_addr().map_err(|source| LabError::Bind {
            listener: "DNS (UDP)",
            addr: any_port,
            source,
        })?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(_) if attempts < 8 => continue,
            Err(source) => {
                return Err(LabError::Bind {
                    listener: "DNS (TCP)",
                    addr,
                    source,
                });
            }
        }
    }
}

/// Serves the lab zone on `udp` and `tcp` until the returned task is aborted; aborting it drops
/// the hickory server, which stops its own tasks.
pub(crate) fn spawn(zone: LabZone, udp: UdpSocket, tcp: TcpListener) -> JoinHandle<()> {
    let mut server = Server::new(zone);
    server.register_socket(udp);
    server.register_listener(tcp, TCP_IDLE, 64 * 1024);
    tokio::spawn(async move {
        // A failing listener ends only this task; the lab's users see the DNS stop answering.
        let _ = server.block_until_done().await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::LAB_HOSTS;

    fn zone(faults: &[Fault]) -> LabZone {
        LabZone::new(&faults.iter().copied().collect(), Duration::ZERO)
    }

    #[test]
    fn lab_names_have_a_records_only() {
        let zone = zone(&[]);
        for host in LAB_HOSTS {
            assert_eq!(
                zone.lookup(host, RecordType::A),
                ZoneAnswer::Records(vec![RData::A(A(ORIGIN_IP))])
            );
            assert_eq!(zone.lookup(host, RecordType::AAAA), ZoneAnswer::NoData);
        }
        assert_eq!(
            zone.lookup("www.example.com", RecordType::A),
            ZoneAnswer::NxDomain
        );
    }

    #[test]
    fn dns_faults_hit_login_windows_net() {
        assert_eq!(
            zone(&[Fault::DnsNxdomain]).lookup("login.windows.net", RecordType::A),
            ZoneAnswer::NxDomain
        );
        assert_eq!(
            zone(&[Fault::DnsServfail]).lookup("login.windows.net", RecordType::A),
            ZoneAnswer::ServFail
        );
        assert!(matches!(
            zone(&[Fault::DnsServfail]).lookup("login.microsoft.com", RecordType::A),
            ZoneAnswer::Records(_)
        ));
    }

    #[test]
    fn ipv6_bypass_gives_login_hosts_aaaa() {
        let zone = zone(&[Fault::Ipv6Bypass]);
        assert_eq!(
            zone.lookup("login.microsoft.com", RecordType::AAAA),
            ZoneAnswer::Records(vec![RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))])
        );
        assert_eq!(
            zone.lookup(crate::lab::CONTROL_HOST, RecordType::AAAA),
            ZoneAnswer::NoData
        );
    }

    fn https_of(zone: &LabZone, host: &str) -> SVCB {
        match zone.lookup(host, RecordType::HTTPS) {
            ZoneAnswer::Records(data) => match data.as_slice() {
                [RData::HTTPS(https)] => https.0.clone(),
                other => panic!("{host}: {other:?}"),
            },
            other => panic!("{host}: {other:?}"),
        }
    }

    #[test]
    fn login_hosts_publish_a_service_mode_https_record_hinting_at_their_a_answer() {
        let zone = zone(&[]);
        for host in LOGIN_HOSTS {
            let svcb = https_of(&zone, host);
            assert_eq!(svcb.svc_priority, 1);
            assert!(svcb.target_name.is_root());
            assert_eq!(
                svcb.svc_params,
                vec![
                    (
                        SvcParamKey::Alpn,
                        SvcParamValue::Alpn(Alpn(vec!["h2".into()]))
                    ),
                    (
                        SvcParamKey::Ipv4Hint,
                        SvcParamValue::Ipv4Hint(IpHint(vec![A(ORIGIN_IP)]))
                    ),
                ]
            );
        }
        for host in [crate::lab::CANARY_HOST, crate::lab::CONTROL_HOST] {
            assert_eq!(zone.lookup(host, RecordType::HTTPS), ZoneAnswer::NoData);
        }
    }

    #[test]
    fn https_hint_bypass_moves_one_hosts_ipv4hint_around_the_gateway() {
        let zone = zone(&[Fault::HttpsHintBypass]);
        let hint = |host: &str| {
            https_of(&zone, host)
                .svc_params
                .into_iter()
                .find_map(|(_, v)| match v {
                    SvcParamValue::Ipv4Hint(IpHint(ips)) => Some(ips),
                    _ => None,
                })
                .unwrap()
        };
        assert_eq!(hint(HINT_BYPASS_HOST), vec![A(HINT_BYPASS_IP)]);
        assert_eq!(hint("login.windows.net"), vec![A(ORIGIN_IP)]);
        // Under ipv6-bypass the record hints at the AAAA answer too.
        let svcb = https_of(&self::zone(&[Fault::Ipv6Bypass]), "login.windows.net");
        assert!(svcb.svc_params.contains(&(
            SvcParamKey::Ipv6Hint,
            SvcParamValue::Ipv6Hint(IpHint(vec![AAAA(Ipv6Addr::LOCALHOST)]))
        )));
    }
}
