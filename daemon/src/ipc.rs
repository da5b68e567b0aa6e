//! The Unix-socket server: one task per client, the caller's uid checked
//! (SO_PEERCRED), every line bounded in size and every read in time, so a
//! slow, silent or hostile client holds up nobody but itself.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use authsync_proto::ipc::{
    ErrorCode, Hello, IMPORT_LINE_PREFIX, IpcError, MAX_IMPORT_LINE_BYTES, MAX_LINE_BYTES, PROTOCOL_VERSION, Reply,
    Request, Response,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::Instrument;
use zeroize::Zeroizing;

use crate::daemon::Daemon;

/// How long a client has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Binds the socket at `path`, refusing to take over one a live daemon serves.
pub async fn bind(path: &Path) -> Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            bail!("another authd is already serving {}", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("failed to remove the stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path).with_context(|| format!("failed to listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("failed to set the mode of {}", path.display()))?;
    Ok(listener)
}

/// Accepts clients until the daemon stops.
pub async fn serve(listener: UnixListener, daemon: Daemon) {
    let uid = nix::unistd::geteuid().as_raw();
    let mut next_id: u64 = 0;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = daemon.stopped() => return,
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == uid => {}
            Ok(cred) => {
                tracing::warn!(uid = cred.uid(), "refused a client of another user");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read a client's credentials");
                continue;
            }
        }
        next_id += 1;
        let daemon = daemon.clone();
        let span = tracing::debug_span!("client", id = next_id);
        tokio::spawn(
            async move {
                if let Err(e) = client(stream, daemon).await {
                    tracing::debug!(error = %e, "client closed");
                }
            }
            .instrument(span),
        );
    }
}

enum Line {
    Complete,
    Eof,
    TooLong,
}

/// Reads one line into `buf`, at most [`MAX_LINE_BYTES`], or at most
/// [`MAX_IMPORT_LINE_BYTES`] for an `import` request when `import_ok`.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    buf: &mut Vec<u8>,
    import_ok: bool,
) -> io::Result<Line> {
    buf.clear();
    let n = (&mut *reader)
        .take(MAX_LINE_BYTES as u64)
        .read_until(b'\n', buf)
        .await?;
    let mut line = match buf.last() {
        _ if n == 0 => Line::Eof,
        Some(b'\n') => Line::Complete,
        _ if n >= MAX_LINE_BYTES => Line::TooLong,
        _ => Line::Eof,
    };
    if matches!(line, Line::TooLong) && import_ok && buf.starts_with(IMPORT_LINE_PREFIX) {
        let more = (&mut *reader)
            .take((MAX_IMPORT_LINE_BYTES - MAX_LINE_BYTES) as u64)
            .read_until(b'\n', buf)
            .await?;
        line = match buf.last() {
            Some(b'\n') => Line::Complete,
            _ if buf.len() >= MAX_IMPORT_LINE_BYTES => Line::TooLong,
            _ if more == 0 => Line::Eof,
            _ => Line::Eof,
        };
    }
    Ok(line)
}

/// Appends `value` to `out` as one JSON line.
fn encode(out: &mut Vec<u8>, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::other)?;
    out.push(b'\n');
    Ok(())
}

async fn send(writer: &mut (impl AsyncWriteExt + Unpin), value: &impl serde::Serialize) -> io::Result<()> {
    let mut line = Vec::new();
    encode(&mut line, value)?;
    writer.write_all(&line).await?;
    writer.flush().await
}

fn error(code: ErrorCode, message: &str) -> Response {
    Response::Error(IpcError::new(code, message))
}

async fn client(stream: UnixStream, daemon: Daemon) -> io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    // Request lines may hold passphrases or seeds: wipe the buffer after use.
    let mut buf = Zeroizing::new(Vec::with_capacity(1024));

    match tokio::time::timeout(HELLO_TIMEOUT, read_line(&mut reader, &mut buf, false)).await {
        Err(_) => return send(&mut writer, &error(ErrorCode::Protocol, "no hello within 5 s")).await,
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Line::Eof)) => return Ok(()),
        Ok(Ok(Line::TooLong)) => return send(&mut writer, &error(ErrorCode::TooLarge, "hello line too long")).await,
        Ok(Ok(Line::Complete)) => {}
    }
    match serde_json::from_slice::<Hello>(&buf) {
        Ok(hello) if hello.protocol == PROTOCOL_VERSION => {}
        Ok(hello) => {
            let message = format!(
                "protocol {} is not spoken here (authd speaks {PROTOCOL_VERSION}); use matching authctl and authd",
                hello.protocol
            );
            return send(&mut writer, &error(ErrorCode::Protocol, &message)).await;
        }
        Err(_) => {
            return send(
                &mut writer,
                &error(ErrorCode::Protocol, "the first line must be a hello"),
            )
            .await;
        }
    }
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        agent: concat!("authd ", env!("CARGO_PKG_VERSION")).to_string(),
    };
    // `authctl` sends its hello and its request in one write: when the
    // request is already here, the hello goes out with its reply, in one
    // write that wakes the client once.
    // Replies may hold seeds (`show --secret`, exports): wiped as `buf` is.
    let mut out = Zeroizing::new(Vec::with_capacity(1024));
    encode(&mut out, &hello)?;
    if !reader.buffer().contains(&b'\n') {
        writer.write_all(&out).await?;
        out.clear();
    }

    loop {
        let line = match tokio::time::timeout(IDLE_TIMEOUT, read_line(&mut reader, &mut buf, true)).await {
            Err(_) | Ok(Ok(Line::Eof)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Line::TooLong)) => {
                let limit = if buf.starts_with(IMPORT_LINE_PREFIX) {
                    MAX_IMPORT_LINE_BYTES
                } else {
                    MAX_LINE_BYTES
                };
                tracing::warn!("refused a request line over {limit} bytes");
                let message = format!("request too large (over {limit} bytes)");
                encode(&mut out, &error(ErrorCode::TooLarge, &message))?;
                return writer.write_all(&out).await;
            }
            Ok(Ok(Line::Complete)) => &buf[..],
        };
        let response = match serde_json::from_slice::<Request>(line) {
            Ok(Request::Watch) => {
                writer.write_all(&out).await?;
                return watch(reader, writer, daemon).await;
            }
            Ok(request) => {
                let op = request.op();
                let result = daemon.handle(request).await;
                match &result {
                    Ok(_) => tracing::debug!(op, "ok"),
                    Err(e) => tracing::debug!(op, code = ?e.code, "refused"),
                }
                Response::from(result)
            }
            // serde's message could quote a value from the line: say where only.
            Err(e) => error(
                ErrorCode::BadRequest,
                &format!("malformed request at column {} (see proto/src/ipc.rs)", e.column()),
            ),
        };
        encode(&mut out, &response)?;
        writer.write_all(&out).await?;
        out.clear();
    }
}

/// A `watch` stream: `Done`, then `Changed` after each change, until the
/// client hangs up (or sends anything: a stream takes no more requests) or
/// the daemon stops.
async fn watch<R: AsyncRead + Unpin>(
    mut reader: BufReader<R>,
    mut writer: impl AsyncWriteExt + Unpin,
    daemon: Daemon,
) -> io::Result<()> {
    // Subscribe before saying so: a change right after `Done` is not lost.
    let mut watcher = daemon.watcher();
    send(&mut writer, &Response::from(Ok(Reply::Done))).await?;
    let mut byte = [0u8; 1];
    loop {
        tokio::select! {
            alive = watcher.changed() => {
                if !alive {
                    return Ok(());
                }
                send(&mut writer, &Response::from(Ok(Reply::Changed))).await?;
            }
            _ = reader.read(&mut byte) => return Ok(()),
            _ = daemon.stopped() => return Ok(()),
        }
    }
}
