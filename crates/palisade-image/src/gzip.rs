//! gzip decoding without the CRC-32 check.
//!
//! Layer blobs are verified by their SHA-256 digest, which covers every compressed byte, so
//! gzip's own CRC-32 over the output adds nothing but time (about a tenth of a layer read).
//! This decoder parses the member headers itself, inflates with `flate2`'s raw deflate
//! decoder, and still checks each member's length field (ISIZE). Several members in a row
//! are read as one stream, as `gunzip` does.

use std::io::{self, BufRead, Read};

use flate2::bufread::DeflateDecoder;

/// The longest file name or comment accepted in a member header.
const MAX_HEADER_STRING: usize = 64 * 1024;

enum State<R> {
    Header(R),
    Body(Box<DeflateDecoder<R>>),
    Done(R),
    Poisoned,
}

/// A multi-member gzip decoder over a buffered reader.
pub(crate) struct Gunzip<R> {
    state: State<R>,
    member_out: u64,
    members: u64,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt gzip stream: {msg}"),
    )
}

fn read_byte<R: BufRead>(r: &mut R) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b).map_err(|_| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "gzip stream ends inside a header",
        )
    })?;
    Ok(b[0])
}

fn skip_zero_terminated<R: BufRead>(r: &mut R) -> io::Result<()> {
    for _ in 0..MAX_HEADER_STRING {
        if read_byte(r)? == 0 {
            return Ok(());
        }
    }
    Err(bad("header string too long"))
}

fn read_header<R: BufRead>(r: &mut R) -> io::Result<()> {
    let mut fixed = [0u8; 10];
    r.read_exact(&mut fixed).map_err(|_| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "gzip stream ends inside a header",
        )
    })?;
    if fixed[0] != 0x1f || fixed[1] != 0x8b {
        return Err(bad("bad magic"));
    }
    if fixed[2] != 8 {
        return Err(bad("compression method is not deflate"));
    }
    let flags = fixed[3];
    if flags & 0xe0 != 0 {
        return Err(bad("reserved header flags set"));
    }
    if flags & 0x04 != 0 {
        let len = usize::from(read_byte(r)?) | (usize::from(read_byte(r)?) << 8);
        for _ in 0..len {
            read_byte(r)?;
        }
    }
    if flags & 0x08 != 0 {
        skip_zero_terminated(r)?;
    }
    if flags & 0x10 != 0 {
        skip_zero_terminated(r)?;
    }
    if flags & 0x02 != 0 {
        read_byte(r)?;
        read_byte(r)?;
    }
    Ok(())
}

impl<R: BufRead> Gunzip<R> {
    pub(crate) fn new(r: R) -> Self {
        Gunzip {
            state: State::Header(r),
            member_out: 0,
            members: 0,
        }
    }

    /// The underlying reader, positioned after whatever was decoded.
    pub(crate) fn into_inner(self) -> Option<R> {
        match self.state {
            State::Header(r) | State::Done(r) => Some(r),
            State::Body(d) => Some(d.into_inner()),
            State::Poisoned => None,
        }
    }
}

impl<R: BufRead> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match std::mem::replace(&mut self.state, State::Poisoned) {
                State::Header(mut r) => {
                    if self.members > 0 && r.fill_buf()?.is_empty() {
                        self.state = State::Done(r);
                        return Ok(0);
                    }
                    read_header(&mut r)?;
                    self.members += 1;
                    self.member_out = 0;
                    self.state = State::Body(Box::new(DeflateDecoder::new(r)));
                }
                State::Body(mut d) => {
                    let n = d.read(buf)?;
                    if n > 0 {
                        self.member_out += n as u64;
                        self.state = State::Body(d);
                        return Ok(n);
                    }
                    let mut r = d.into_inner();
                    let mut trailer = [0u8; 8];
                    r.read_exact(&mut trailer).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "gzip stream ends before its trailer",
                        )
                    })?;
                    let isize =
                        u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
                    // ISIZE is the length modulo 2^32.
                    if u64::from(isize) != self.member_out & 0xffff_ffff {
                        return Err(bad("length in the trailer does not match the data"));
                    }
                    self.state = State::Header(r);
                }
                State::Done(r) => {
                    self.state = State::Done(r);
                    return Ok(0);
                }
                State::Poisoned => return Err(bad("decoder used after an error")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8], name: bool) -> Vec<u8> {
        let mut b = flate2::GzBuilder::new();
        if name {
            b = b.filename("layer.tar").comment("c").extra(vec![1, 2, 3]);
        }
        let mut e = b.write(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn same_output_as_flate2_for_one_and_several_members() {
        let a: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut both = gz(&a, true);
        both.extend(gz(b"second member", false));
        let mut out = Vec::new();
        Gunzip::new(&both[..]).read_to_end(&mut out).unwrap();
        let mut want = a.clone();
        want.extend_from_slice(b"second member");
        assert_eq!(out, want);
    }

    #[test]
    fn truncation_and_corruption_are_errors() {
        let z = gz(&[7u8; 100_000], false);
        for cut in [0, 5, 12, z.len() / 2, z.len() - 4, z.len() - 1] {
            let mut out = Vec::new();
            assert!(
                Gunzip::new(&z[..cut]).read_to_end(&mut out).is_err(),
                "cut at {cut}"
            );
        }
        let mut bad_size = z.clone();
        let n = bad_size.len();
        bad_size[n - 1] ^= 1;
        assert!(
            Gunzip::new(&bad_size[..])
                .read_to_end(&mut Vec::new())
                .is_err()
        );
        assert!(
            Gunzip::new(&b"not gzip at all"[..])
                .read_to_end(&mut Vec::new())
                .is_err()
        );
    }
}
