//! A raw HTTP/1.1 client that reads responses byte-exactly, for checking servers.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a check waits for any one read before failing.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One response as received.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Fields in order, as received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The whole response, head and body, as received.
    pub raw: Vec<u8>,
}

impl Response {
    /// The first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A connection to the server under test.
#[derive(Debug)]
pub struct Client {
    pub stream: TcpStream,
    /// Bytes received but not yet returned as part of a response.
    pending: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to the server");
        stream.set_read_timeout(Some(READ_TIMEOUT)).expect("set timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client { stream, pending: Vec::new() }
    }

    /// Connects with a small receive buffer (set before connecting, so the advertised window
    /// stays small), as a client that reads slowly or not at all.
    pub fn connect_with_receive_buffer(addr: SocketAddr, bytes: usize) -> Client {
        let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)
            .expect("create a socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        socket.connect(&addr.into()).expect("connect to the server");
        let stream = TcpStream::from(socket);
        stream.set_read_timeout(Some(READ_TIMEOUT)).expect("set timeout");
        Client { stream, pending: Vec::new() }
    }

    /// Reads everything until the connection ends; returns how many bytes arrived and how it
    /// ended (`UnexpectedEof` for a clean close). A read timeout ends it too, as `WouldBlock`.
    pub fn drain_to_end(&mut self) -> (usize, io::Error) {
        let mut received = std::mem::take(&mut self.pending).len();
        let mut buf = vec![0; 64 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return (received, io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => received += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return (received, err),
            }
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to the server");
    }

    /// Reads one response. `head_request` says the response has no body whatever its
    /// `Content-Length`.
    pub fn response(&mut self, head_request: bool) -> Response {
        self.try_response(head_request).unwrap_or_else(|err| panic!("reading a response: {err}"))
    }

    /// Reads one response, or says why there is none.
    pub fn try_response(&mut self, head_request: bool) -> io::Result<Response> {
        loop {
            if let Some(response) = self.parse(head_request)? {
                return Ok(response);
            }
            self.fill()?;
        }
    }

    /// Reads until the server closes the connection; returns what arrived. A reset instead of
    /// a clean close is an error.
    pub fn read_to_close(&mut self) -> io::Result<Vec<u8>> {
        let mut rest = std::mem::take(&mut self.pending);
        self.stream.read_to_end(&mut rest)?;
        Ok(rest)
    }

    /// Whether the server closed the connection (cleanly) without sending anything more.
    pub fn closed_cleanly(&mut self) -> bool {
        matches!(self.read_to_close(), Ok(rest) if rest.is_empty())
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut buf = [0; 16 * 1024];
        let n = self.stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"));
        }
        self.pending.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn parse(&mut self, head_request: bool) -> io::Result<Option<Response>> {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut fields);
        let head_len = match parsed.parse(&self.pending) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(err) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("bad response: {err}")))
            }
        };
        let status = parsed.code.unwrap_or_default();
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
            .collect();
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let body_len = match (status, head_request, length) {
            (100..=199, _, _) | (_, true, _) => 0,
            (_, false, Some(length)) => length,
            (_, false, None) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "response without Content-Length"))
            }
        };
        if self.pending.len() < head_len + body_len {
            return Ok(None);
        }
        let raw: Vec<u8> = self.pending.drain(..head_len + body_len).collect();
        let body = raw[head_len..].to_vec();
        Ok(Some(Response { status, headers, body, raw }))
    }
}

/// Sends `request` on a new connection and reads one response.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Response {
    let mut client = Client::connect(addr);
    client.send(request);
    client.response(request.starts_with(b"HEAD "))
}

pub use server_spec::reference::mask_date;
