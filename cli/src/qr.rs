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
    // rqrr thresholds locally; on an anti-aliased screenshot whose modules
    // are not a whole number of pixels, the grey module edges break its
    // finder patterns. One global (Otsu) threshold first makes every pixel
    // black or white, which reads those (Google's 10-account export
    // screenshot in shared/vectors/realworld). Tried only when the image
    // as it is gives nothing, so what read before reads the same.
    let mut texts = read_codes(image.clone(), name)?;
    if texts.is_empty() {
        texts = read_codes(binarised(&image), name)?;
    }
    if texts.is_empty() {
        return Err(BadInput(format!("{name}: no QR code could be read in the image")).into());
    }
    Ok(texts)
}

/// The texts of the QR codes rqrr reads in `image`.
fn read_codes(image: GrayImage, name: &str) -> Result<Vec<Zeroizing<String>>> {
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
    Ok(texts)
}

/// Otsu's threshold of `image`: the grey level that best splits its
/// histogram into two classes (largest between-class variance).
fn otsu_threshold(image: &GrayImage) -> u8 {
    let mut histogram = [0u64; 256];
    for pixel in image.pixels() {
        histogram[usize::from(pixel[0])] += 1;
    }
    let total: u64 = histogram.iter().sum();
    let sum: f64 = histogram.iter().enumerate().map(|(i, &n)| i as f64 * n as f64).sum();
    let (mut below, mut below_sum, mut best, mut threshold) = (0u64, 0f64, 0f64, 0u8);
    for (level, &n) in histogram.iter().enumerate() {
        below += n;
        let above = total - below;
        if below == 0 {
            continue;
        }
        if above == 0 {
            break;
        }
        below_sum += level as f64 * n as f64;
        let (mean_below, mean_above) = (below_sum / below as f64, (sum - below_sum) / above as f64);
        let variance = below as f64 * above as f64 * (mean_below - mean_above).powi(2);
        if variance > best {
            best = variance;
            threshold = u8::try_from(level).unwrap_or(u8::MAX);
        }
    }
    threshold
}

/// `image` in black and white at its Otsu threshold.
fn binarised(image: &GrayImage) -> GrayImage {
    let threshold = otsu_threshold(image);
    let mut out = image.clone();
    for pixel in out.pixels_mut() {
        pixel[0] = if pixel[0] > threshold { 255 } else { 0 };
    }
    out
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn otsu_splits_two_grey_levels_between_them() {
        let image = GrayImage::from_fn(10, 10, |x, _| Luma([if x < 5 { 40 } else { 200 }]));
        let t = otsu_threshold(&image);
        assert!((40..200).contains(&t), "{t}");
        let bw = binarised(&image);
        assert_eq!(bw.get_pixel(0, 0)[0], 0);
        assert_eq!(bw.get_pixel(9, 0)[0], 255);
        // One grey level: nothing to split, and no panic.
        let flat = GrayImage::from_pixel(4, 4, Luma([128]));
        assert_eq!(otsu_threshold(&flat), 0);
    }
}
