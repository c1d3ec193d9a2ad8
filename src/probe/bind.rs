//! Where a vantage's sockets leave from: a local address (`bind`) or a network interface
//! (`interface`), applied to every socket its probes open — DNS queries, TCP connections to a
//! target or the proxy, and the echo samples' HTTP clients — so that each vantage is seen
//! from where it claims to be.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use hickory_resolver::net::runtime::iocompat::AsyncIoTokioAsStd;
use hickory_resolver::net::runtime::{
    RuntimeProvider, TokioHandle, TokioRuntimeProvider, TokioTime,
};
use tokio::net::{TcpSocket, TcpStream};

use crate::scenario::model::LocalBind;

/// Why a vantage's binding cannot be used on this machine: found before any probe runs.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The address is not one of this machine's.
    #[error(
        "vantage {vantage}: bind = \"{address}\" is not an address of this machine (ip address shows them)"
    )]
    NoSuchAddress {
        vantage: String,
        address: IpAddr,
        #[source]
        source: io::Error,
    },
    /// The interface does not exist, or binding to it is not permitted.
    #[error("vantage {vantage}: cannot bind to interface {interface}{hint}")]
    Interface {
        vantage: String,
        interface: String,
        hint: &'static str,
        #[source]
        source: io::Error,
    },
    /// This operating system cannot bind a socket to an interface.
    #[error(
        "vantage {vantage}: interface = \"{interface}\" needs SO_BINDTODEVICE, which only Linux has: use bind = \"ADDRESS\" with the interface's address"
    )]
    InterfaceUnsupported { vantage: String, interface: String },
}

/// Proves that `bind` can be used here, by binding a socket as the probes will.
pub fn check(vantage: &str, bind: &LocalBind) -> Result<(), BindError> {
    match bind {
        LocalBind::Address(ip) => std::net::UdpSocket::bind(SocketAddr::new(*ip, 0))
            .and_then(|_| std::net::TcpListener::bind(SocketAddr::new(*ip, 0)))
            .map(drop)
            .map_err(|source| BindError::NoSuchAddress {
                vantage: vantage.to_owned(),
                address: *ip,
                source,
            }),
        LocalBind::Interface(name) => check_interface(vantage, name),
    }
}

#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
fn check_interface(vantage: &str, name: &str) -> Result<(), BindError> {
    TcpSocket::new_v4()
        .and_then(|socket| socket.bind_device(Some(name.as_bytes())))
        .map_err(|source| BindError::Interface {
            vantage: vantage.to_owned(),
            interface: name.to_owned(),
            hint: match source.raw_os_error() {
                Some(1) => {
                    ": binding to an interface needs CAP_NET_RAW (run as root, or use bind = \"ADDRESS\")"
                }
                Some(19) => ": there is no such interface (ip link shows them)",
                _ => "",
            },
            source,
        })
}

#[cfg(not(any(target_os = "android", target_os = "fuchsia", target_os = "linux")))]
fn check_interface(vantage: &str, name: &str) -> Result<(), BindError> {
    Err(BindError::InterfaceUnsupported {
        vantage: vantage.to_owned(),
        interface: name.to_owned(),
    })
}

/// A TCP socket for `target`, bound as the vantage says.
pub fn tcp_socket(target: SocketAddr, bind: Option<&LocalBind>) -> io::Result<TcpSocket> {
    let socket = match target {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    match bind {
        None => {}
        Some(LocalBind::Address(ip)) => {
            if ip.is_ipv4() != target.is_ipv4() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    format!("the vantage binds to {ip}, which cannot reach {target}"),
                ));
            }
            socket.bind(SocketAddr::new(*ip, 0))?;
        }
        Some(LocalBind::Interface(name)) => bind_device_tcp(&socket, name)?,
    }
    Ok(socket)
}

#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
fn bind_device_tcp(socket: &TcpSocket, name: &str) -> io::Result<()> {
    socket.bind_device(Some(name.as_bytes()))
}

#[cfg(not(any(target_os = "android", target_os = "fuchsia", target_os = "linux")))]
fn bind_device_tcp(_: &TcpSocket, name: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("cannot bind to interface {name}: SO_BINDTODEVICE is Linux only"),
    ))
}

/// A TCP connection to `target`, from where the vantage says.
pub async fn connect(target: SocketAddr, bind: Option<&LocalBind>) -> io::Result<TcpStream> {
    tcp_socket(target, bind)?.connect(target).await
}

/// The local address a DNS query to `server` leaves from, for a vantage bound to an address
/// of the server's family.
pub fn dns_source(server: IpAddr, bind: Option<&LocalBind>) -> Option<SocketAddr> {
    match bind {
        Some(LocalBind::Address(ip)) if ip.is_ipv4() == server.is_ipv4() => {
            Some(SocketAddr::new(*ip, 0))
        }
        _ => None,
    }
}

/// hickory's tokio runtime, with each DNS socket bound to the vantage's interface (an
/// address binding goes through hickory's own `bind_addr`).
#[derive(Clone, Default)]
pub struct BoundRuntime {
    inner: TokioRuntimeProvider,
    interface: Option<std::sync::Arc<str>>,
}

impl BoundRuntime {
    pub fn new(bind: Option<&LocalBind>) -> BoundRuntime {
        BoundRuntime {
            inner: TokioRuntimeProvider::default(),
            interface: match bind {
                Some(LocalBind::Interface(name)) => Some(name.as_str().into()),
                _ => None,
            },
        }
    }
}

type Boxed<T> = Pin<Box<dyn Send + Future<Output = io::Result<T>>>>;

impl RuntimeProvider for BoundRuntime {
    type Handle = TokioHandle;
    type Timer = TokioTime;
    type Udp = tokio::net::UdpSocket;
    type Tcp = AsyncIoTokioAsStd<TcpStream>;

    fn create_handle(&self) -> TokioHandle {
        self.inner.create_handle()
    }

    fn connect_tcp(
        &self,
        server_addr: SocketAddr,
        bind_addr: Option<SocketAddr>,
        wait_for: Option<Duration>,
    ) -> Boxed<Self::Tcp> {
        let Some(interface) = self.interface.clone() else {
            return self.inner.connect_tcp(server_addr, bind_addr, wait_for);
        };
        Box::pin(async move {
            let socket = tcp_socket(
                server_addr,
                Some(&LocalBind::Interface(interface.to_string())),
            )?;
            socket.set_nodelay(true)?;
            let wait_for = wait_for.unwrap_or(Duration::from_secs(5));
            match tokio::time::timeout(wait_for, socket.connect(server_addr)).await {
                Ok(Ok(stream)) => Ok(AsyncIoTokioAsStd(stream)),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TCP connect timed out",
                )),
            }
        })
    }

    fn bind_udp(&self, local_addr: SocketAddr, server_addr: SocketAddr) -> Boxed<Self::Udp> {
        let Some(interface) = self.interface.clone() else {
            return self.inner.bind_udp(local_addr, server_addr);
        };
        Box::pin(async move {
            let socket = tokio::net::UdpSocket::bind(local_addr).await?;
            bind_device_udp(&socket, &interface)?;
            Ok(socket)
        })
    }
}

#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
fn bind_device_udp(socket: &tokio::net::UdpSocket, name: &str) -> io::Result<()> {
    socket.bind_device(Some(name.as_bytes()))
}

#[cfg(not(any(target_os = "android", target_os = "fuchsia", target_os = "linux")))]
fn bind_device_udp(_: &tokio::net::UdpSocket, name: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("cannot bind to interface {name}: SO_BINDTODEVICE is Linux only"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_address_binds_and_a_foreign_one_does_not() {
        check("office", &LocalBind::Address("127.0.0.10".parse().unwrap())).unwrap();
        // Not an address of a machine under test: binding fails with nothing sent.
        let e = check(
            "far",
            &LocalBind::Address("10.254.254.254".parse().unwrap()),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains(
                "vantage far: bind = \"10.254.254.254\" is not an address of this machine"
            ),
            "{e}"
        );
    }

    #[test]
    fn an_interface_that_does_not_exist_is_refused() {
        let e = check("branch", &LocalBind::Interface("nosuchif0".into())).unwrap_err();
        assert!(
            e.to_string()
                .contains("vantage branch: cannot bind to interface nosuchif0")
                || e.to_string().contains("only Linux"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_bound_connection_leaves_from_its_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = listener.local_addr().unwrap();
        let bind = LocalBind::Address("127.0.0.10".parse().unwrap());
        let (stream, accepted) = tokio::join!(connect(target, Some(&bind)), listener.accept());
        assert_eq!(
            stream.unwrap().local_addr().unwrap().ip().to_string(),
            "127.0.0.10"
        );
        assert_eq!(accepted.unwrap().1.ip().to_string(), "127.0.0.10");
    }
}
