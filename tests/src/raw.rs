//! The local IPC protocol spoken directly over the socket (JSON lines, see
//! `proto/src/ipc.rs`): for readiness checks, snapshots, and input that
//! `authctl` would refuse to send.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use authsync_proto::ipc::{Hello, IpcError, Reply, Request, Response};

/// How long any one read or write on the socket may take.
const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest reply line read back (a list of many entries is long).
const MAX_REPLY: u64 = 16 << 20;

/// The hello line of a test client.
pub const HELLO: &str = r#"{"protocol":1,"agent":"test"}"#;

/// A connection to `authd`, before or after the hello.
pub struct RawClient {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl RawClient {
    /// Connects, without saying anything yet.
    pub fn connect(socket: &Path) -> io::Result<RawClient> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let writer = stream.try_clone()?;
        Ok(RawClient {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Connects and exchanges hellos.
    pub fn open(socket: &Path) -> io::Result<RawClient> {
        let mut client = RawClient::connect(socket)?;
        client.send_line(HELLO.as_bytes())?;
        let line = client
            .read_line()?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "authd closed instead of saying hello"))?;
        serde_json::from_str::<Hello>(&line)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("not a hello: {line}")))?;
        Ok(client)
    }

    /// A second handle on the socket to write from another thread.
    pub fn writer(&self) -> io::Result<UnixStream> {
        self.writer.try_clone()
    }

    /// Writes `bytes` and a newline.
    pub fn send_line(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut line = Vec::with_capacity(bytes.len() + 1);
        line.extend_from_slice(bytes);
        line.push(b'\n');
        self.writer.write_all(&line)
    }

    /// Reads one line (without its newline); `None` at the end of the stream.
    pub fn read_line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        let n = (&mut self.reader).take(MAX_REPLY).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        Ok(Some(String::from_utf8_lossy(&line).into_owned()))
    }

    /// Reads one [`Response`] line.
    pub fn read_response(&mut self) -> io::Result<Response> {
        let line = self
            .read_line()?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "authd closed the connection"))?;
        serde_json::from_str(&line)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("not a response ({e}): {line}")))
    }

    /// Sends `request`, reads its response.
    pub fn call(&mut self, request: &Request) -> io::Result<Result<Reply, IpcError>> {
        let line = serde_json::to_vec(request).map_err(io::Error::other)?;
        self.send_line(&line)?;
        Ok(self.read_response()?.into())
    }

    /// Whether the daemon closed the connection: the next read ends the
    /// stream (or is reset, which is how Linux reports a peer that closed
    /// with unread data).
    pub fn is_closed(&mut self) -> bool {
        match self.read_line() {
            Ok(None) => true,
            Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
            Ok(Some(_)) => false,
        }
    }
}

/// One request on a fresh connection.
pub fn call(socket: &Path, request: &Request) -> io::Result<Result<Reply, IpcError>> {
    RawClient::open(socket)?.call(request)
}
