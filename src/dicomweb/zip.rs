//! A streaming ZIP writer for "download the study": stored (uncompressed)
//! entries — DICOM pixel data is either compressed already or gains little
//! — written one after another, then the central directory (APPNOTE 4.3).
//! Archives are limited to 4 GiB and 65535 entries (no ZIP64).

use bytes::Bytes;

/// One entry already written, for the central directory.
struct Entry {
    name: String,
    crc: u32,
    size: u32,
    offset: u32,
}

/// Builds a ZIP archive piece by piece.
#[derive(Default)]
pub struct ZipWriter {
    entries: Vec<Entry>,
    offset: u64,
}

/// The archive outgrew what a plain ZIP can address.
#[derive(Debug)]
pub struct TooLarge;

const DOS_DATE: u16 = (2020 - 1980) << 9 | 1 << 5 | 1; // 2020-01-01: contents carry their own dates
const UTF8: u16 = 1 << 11;

impl ZipWriter {
    /// A local header and the data of one file.
    pub fn entry(&mut self, name: &str, data: &[u8]) -> Result<[Bytes; 2], TooLarge> {
        let size = u32::try_from(data.len()).map_err(|_| TooLarge)?;
        let offset = u32::try_from(self.offset).map_err(|_| TooLarge)?;
        if self.entries.len() >= 0xFFFF {
            return Err(TooLarge);
        }
        let crc = crc32fast::hash(data);
        let mut h = Vec::with_capacity(30 + name.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes()); // version needed
        h.extend_from_slice(&UTF8.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&0u16.to_le_bytes()); // time
        h.extend_from_slice(&DOS_DATE.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // extra
        h.extend_from_slice(name.as_bytes());
        self.offset += h.len() as u64 + data.len() as u64;
        u32::try_from(self.offset).map_err(|_| TooLarge)?;
        self.entries.push(Entry {
            name: name.to_owned(),
            crc,
            size,
            offset,
        });
        Ok([Bytes::from(h), Bytes::copy_from_slice(data)])
    }

    /// The central directory and its end record.
    pub fn finish(self) -> Result<Bytes, TooLarge> {
        let start = u32::try_from(self.offset).map_err(|_| TooLarge)?;
        let mut out = Vec::new();
        for e in &self.entries {
            out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            out.extend_from_slice(&20u16.to_le_bytes()); // made by
            out.extend_from_slice(&20u16.to_le_bytes()); // needed
            out.extend_from_slice(&UTF8.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&DOS_DATE.to_le_bytes());
            out.extend_from_slice(&e.crc.to_le_bytes());
            out.extend_from_slice(&e.size.to_le_bytes());
            out.extend_from_slice(&e.size.to_le_bytes());
            out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0u8; 8]); // extra, comment, disk, internal attributes
            out.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            out.extend_from_slice(&e.offset.to_le_bytes());
            out.extend_from_slice(e.name.as_bytes());
        }
        let size = out.len() as u32;
        let n = self.entries.len() as u16;
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0u8; 4]); // disk numbers
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unzip_reads_what_we_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut z = ZipWriter::default();
        let mut bytes = Vec::new();
        for (name, data) in [
            ("1.2.3/1.dcm", b"first".to_vec()),
            ("1.2.3/2.dcm", vec![7u8; 100_000]),
        ] {
            for part in z.entry(name, &data).unwrap() {
                bytes.extend_from_slice(&part);
            }
        }
        bytes.extend_from_slice(&z.finish().unwrap());
        let path = dir.path().join("study.zip");
        std::fs::write(&path, &bytes).unwrap();
        // Python's zipfile checks CRCs and the central directory.
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(','.join(f'{i.filename}:{i.file_size}' for i in z.infolist()))"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1.2.3/1.dcm:5,1.2.3/2.dcm:100000"
        );
    }
}
