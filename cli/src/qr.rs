//! QR codes in and out: reading every QR code of a PNG or JPEG (the `image`
//! crate decodes, `rqrr` finds and reads the codes), and drawing one on the
//! terminal or into a PNG (`qrcode` lays out the modules).
//!
//! What a QR code holds is an otpauth URI, so a seed: decoded texts are
//! zeroizing, and PNG files are written with mode 0600.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use image::{GrayImage, ImageFormat, Luma};
use qrcode::{Color, EcLevel, QrCode};
use zeroize::Zeroizing;

use crate::input::BadInput;

/// Pixels per module in a PNG, and the quiet zone in modules.
const SCALE: u32 = 8;
const QUIET: u32 = 4;
/// Images larger than this many pixels are refused (a 50 MP photo is
/// 50 M pixels; decoding allocates 4 bytes per pixel).
const MAX_PIXELS: u64 = 64_000_000;

/// The texts of every QR code found in the PNG or JPEG `bytes`.
pub fn decode(bytes: &[u8], name: &str) -> Result<Vec<Zeroizing<String>>> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes));
    reader = reader
        .with_guessed_format()
        .map_err(|_| BadInput(format!("{name}: not a PNG or JPEG image")))?;
    if !matches!(reader.format(), Some(ImageFormat::Png | ImageFormat::Jpeg)) {
        return Err(BadInput(format!("{name}: not a PNG or JPEG image")).into());
    }
    let (w, h) = reader
        .into_dimensions()
        .map_err(|_| BadInput(format!("{name}: the image is damaged or truncated")))?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(BadInput(format!("{name}: the image is too large ({w}x{h} pixels)")).into());
    }
    let image = image::load_from_memory(bytes)
        .map_err(|_| BadInput(format!("{name}: the image is damaged or truncated")))?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let mut texts = Vec::new();
    for grid in prepared.detect_grids() {
        let mut text = Zeroizing::new(Vec::new());
        if grid.decode_to(&mut *text).is_ok() {
            let text =
                String::from_utf8(text.to_vec()).map_err(|_| BadInput(format!("{name}: a QR code holds no text")))?;
            texts.push(Zeroizing::new(text));
        }
    }
    if texts.is_empty() {
        return Err(BadInput(format!("{name}: no QR code could be read in the image")).into());
    }
    Ok(texts)
}

fn code(text: &str) -> Result<QrCode> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| anyhow::anyhow!("cannot make a QR code of this entry: {e}"))
}

/// Colours of the terminal QR code, from the 256-colour cube (pure black
/// and white), which themes leave alone; the 16 basic colours are remapped
/// by themes (a "white" may be grey, or dark).
const DARK: u8 = 16;
const LIGHT: u8 = 231;

/// `text` as a QR code in half-block characters, two modules per character
/// cell: the upper module is the foreground of `▀`, the lower one its
/// background. Both colours are set on every cell, and the code has a
/// quiet zone of 4 light modules, so it is dark on light and scans on any
/// theme, light or dark. Each line ends by resetting the colours.
pub fn terminal(text: &str) -> Result<String> {
    let code = code(text)?;
    let width = code.width();
    let colors = code.to_colors();
    let quiet = QUIET as usize;
    let size = width + 2 * quiet;
    let dark = |x: usize, y: usize| {
        x >= quiet
            && y >= quiet
            && x < quiet + width
            && y < quiet + width
            && colors[(y - quiet) * width + x - quiet] == Color::Dark
    };
    let colour = |is_dark: bool| if is_dark { DARK } else { LIGHT };
    let mut out = String::new();
    for y in (0..size).step_by(2) {
        let mut current = None;
        for x in 0..size {
            let cell = (colour(dark(x, y)), colour(y + 1 < size && dark(x, y + 1)));
            if current != Some(cell) {
                out.push_str(&format!("\x1b[38;5;{};48;5;{}m", cell.0, cell.1));
                current = Some(cell);
            }
            out.push('▀');
        }
        out.push_str("\x1b[0m\n");
    }
    Ok(out)
}

/// Writes `text` as a QR code PNG to `path` (a new file, mode 0600).
pub fn write_png(text: &str, path: &Path) -> Result<()> {
    let code = code(text)?;
    let width = code.width() as u32;
    let colors = code.to_colors();
    let size = (width + 2 * QUIET) * SCALE;
    let image = GrayImage::from_fn(size, size, |x, y| {
        let (mx, my) = (x / SCALE, y / SCALE);
        let inside = mx >= QUIET && my >= QUIET && mx < QUIET + width && my < QUIET + width;
        if inside && colors[((my - QUIET) * width + mx - QUIET) as usize] == Color::Dark {
            Luma([0])
        } else {
            Luma([255])
        }
    });
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
        .context("failed to encode the PNG")?;
    write_private(path, &png)
}

/// Writes `bytes` to a new file `path` with mode 0600; refuses to replace
/// an existing file.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                anyhow::Error::from(BadInput(format!("{} exists; choose a new file", path.display())))
            }
            _ => anyhow::Error::from(BadInput(format!("cannot create {}: {e}", path.display()))),
        })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write {}", path.display()))
}
