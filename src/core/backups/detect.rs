//! Content sniffing: what a backup file is, judged from its first bytes only, so that an
//! inventory of many files stays cheap. Gzip is looked into (its start is inflated) because a
//! `.sql.gz` and a `.tar.gz` differ only inside the compression.

use std::io::Read;

use crate::core::backups::DetectedKind;

/// How many leading bytes of a file [`detect`] wants: enough for a tar header (the `ustar` magic
/// sits at offset 257) and for the gzip header and first deflate block of a compressed one.
pub const HEAD_BYTES: usize = 4096;

/// How much of a gzip stream's content is inflated: past the tar magic at 257..262, with margin.
const INFLATED_BYTES: usize = 600;

const TAR_MAGIC_OFFSET: usize = 257;

/// Classifies a file from its first bytes (up to [`HEAD_BYTES`]; fewer when the file is shorter).
pub fn detect(head: &[u8]) -> DetectedKind {
    if head.is_empty() {
        return DetectedKind::Empty;
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return detect_gzip_content(head);
    }
    if head.starts_with(b"PGDMP") {
        return DetectedKind::PgDumpCustom;
    }
    if is_pg_dump_plain(head) {
        return DetectedKind::PgDumpPlain;
    }
    if is_tar(head) {
        return DetectedKind::Tar;
    }
    if is_redis_rdb(head) {
        return DetectedKind::RedisRdb;
    }
    if is_resp_array(head) {
        return DetectedKind::RedisAof;
    }
    if head.starts_with(b"age-encryption.org/v1")
        || head.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
    {
        return DetectedKind::Age;
    }
    if head.starts_with(b"Salted__") {
        return DetectedKind::OpenSslEnc;
    }
    if head.starts_with(b"-----BEGIN PGP MESSAGE-----") || is_openpgp_packet(head) {
        return DetectedKind::Gpg;
    }
    DetectedKind::Unknown
}

fn detect_gzip_content(head: &[u8]) -> DetectedKind {
    let inflated = inflate_start(head);
    if is_pg_dump_plain(&inflated) {
        DetectedKind::PgDumpPlainGzip
    } else if is_tar(&inflated) {
        DetectedKind::TarGz
    } else {
        DetectedKind::Gzip
    }
}

/// The first [`INFLATED_BYTES`] of a gzip stream's content, or less. `head` is only the start of
/// the file, so the decoder is expected to fail with an unexpected end of input; what it produced
/// before that is all that is needed.
fn inflate_start(head: &[u8]) -> Vec<u8> {
    let mut decoder = flate2::bufread::GzDecoder::new(head);
    let mut inflated = vec![0u8; INFLATED_BYTES];
    let mut filled = 0;
    while filled < inflated.len() {
        match decoder.read(&mut inflated[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(read) => filled += read,
        }
    }
    inflated.truncate(filled);
    inflated
}

/// pg_dump's and pg_dumpall's plain-format header, as written on Unix or Windows.
fn is_pg_dump_plain(head: &[u8]) -> bool {
    let Some(rest) = head.strip_prefix(b"--") else {
        return false;
    };
    let rest = rest.strip_prefix(b"\r").unwrap_or(rest);
    let Some(rest) = rest.strip_prefix(b"\n-- PostgreSQL database ") else {
        return false;
    };
    rest.starts_with(b"dump") || rest.starts_with(b"cluster dump")
}

fn is_tar(head: &[u8]) -> bool {
    head.get(TAR_MAGIC_OFFSET..TAR_MAGIC_OFFSET + 5) == Some(b"ustar".as_slice())
}

fn is_redis_rdb(head: &[u8]) -> bool {
    head.strip_prefix(b"REDIS")
        .and_then(|rest| rest.get(..4))
        .is_some_and(|version| version.iter().all(u8::is_ascii_digit))
}

/// `*<count>\r\n`, how every command in an append-only file starts.
fn is_resp_array(head: &[u8]) -> bool {
    let Some(rest) = head.strip_prefix(b"*") else {
        return false;
    };
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    digits > 0 && rest[digits..].starts_with(b"\r\n")
}

/// Whether the file starts with an OpenPGP packet that begins an encrypted message. A compressed
/// data packet does not count: `gpg --sign` output starts with one and is readable by anyone,
/// so a set that requires encryption must not accept it. Many binary formats start with a
/// byte that has bit 7 set, so where a packet has a version or algorithm octet, that is checked
/// as well.
fn is_openpgp_packet(head: &[u8]) -> bool {
    let Some((&first, rest)) = head.split_first() else {
        return false;
    };
    if first & 0x80 == 0 {
        return false;
    }
    let (tag, body) = if first & 0x40 != 0 {
        (first & 0x3f, new_format_body(rest))
    } else {
        ((first >> 2) & 0x0f, old_format_body(first & 0x03, rest))
    };
    let first_body_octet = body.and_then(|body| body.first().copied());
    match tag {
        // Public-key encrypted session key: version 3 (RFC 4880) or 6 (RFC 9580).
        1 => matches!(first_body_octet, Some(3 | 6)),
        // Symmetric-key encrypted session key: versions 4, 5 (draft AEAD) or 6.
        3 => matches!(first_body_octet, Some(4..=6)),
        // Symmetrically encrypted data: the body is ciphertext from its first octet.
        9 => true,
        // Symmetrically encrypted integrity-protected data: version 1 or 2.
        18 => matches!(first_body_octet, Some(1 | 2)),
        // AEAD encrypted data (the OCB packet of GnuPG 2.3+): version 1.
        20 => matches!(first_body_octet, Some(1)),
        _ => false,
    }
}

/// The packet body after an old-format length of the given type (0: one octet, 1: two, 2: four,
/// 3: indeterminate, no length octets).
fn old_format_body(length_type: u8, rest: &[u8]) -> Option<&[u8]> {
    let length_octets = match length_type {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => 0,
    };
    rest.get(length_octets..)
}

/// The packet body after a new-format length: one octet below 192, two up to 223, a partial body
/// length (one octet) up to 254, and 255 followed by four octets.
fn new_format_body(rest: &[u8]) -> Option<&[u8]> {
    let length_octets = match *rest.first()? {
        0..=191 | 224..=254 => 1,
        192..=223 => 2,
        255 => 5,
    };
    rest.get(length_octets..)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const PG_DUMP_HEADER: &str = "--\n-- PostgreSQL database dump\n--\n\n\
        -- Dumped from database version 16.4 (Debian 16.4-1.pgdg120+1)\n\
        -- Dumped by pg_dump version 16.4 (Debian 16.4-1.pgdg120+1)\n\n\
        SET statement_timeout = 0;\nSET lock_timeout = 0;\n\
        SET client_encoding = 'UTF8';\n";

    fn gzip(content: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(content).unwrap();
        encoder.finish().unwrap()
    }

    fn tar_archive() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let content = b"hello from the archive\n".repeat(40);
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "data/notes.txt", content.as_slice())
            .unwrap();
        builder.into_inner().unwrap()
    }

    fn head(bytes: &[u8]) -> &[u8] {
        &bytes[..bytes.len().min(HEAD_BYTES)]
    }

    #[test]
    fn empty_input_is_empty() {
        assert_eq!(detect(b""), DetectedKind::Empty);
    }

    #[test]
    fn pg_dump_custom_magic() {
        assert_eq!(
            detect(b"PGDMP\x01\x0e\x00\x04\x08"),
            DetectedKind::PgDumpCustom
        );
    }

    #[test]
    fn pg_dump_plain_header() {
        assert_eq!(detect(PG_DUMP_HEADER.as_bytes()), DetectedKind::PgDumpPlain);
        assert_eq!(
            detect(b"--\n-- PostgreSQL database cluster dump\n--\n"),
            DetectedKind::PgDumpPlain
        );
        assert_eq!(
            detect(b"--\r\n-- PostgreSQL database dump\r\n--\r\n"),
            DetectedKind::PgDumpPlain
        );
    }

    #[test]
    fn other_sql_is_unknown() {
        assert_eq!(detect(b"-- MySQL dump 10.13\n"), DetectedKind::Unknown);
        assert_eq!(detect(b"--\n-- PostgreSQL\n"), DetectedKind::Unknown);
        assert_eq!(detect(b"SELECT 1;\n"), DetectedKind::Unknown);
    }

    #[test]
    fn tar_archive_is_tar() {
        assert_eq!(detect(head(&tar_archive())), DetectedKind::Tar);
        assert_eq!(detect(&[0u8; 261]), DetectedKind::Unknown);
    }

    #[test]
    fn redis_rdb_and_aof() {
        assert_eq!(
            detect(b"REDIS0011\xfa\x09redis-ver"),
            DetectedKind::RedisRdb
        );
        assert_eq!(detect(b"REDIS001"), DetectedKind::Unknown);
        assert_eq!(detect(b"REDISabcd"), DetectedKind::Unknown);
        assert_eq!(
            detect(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n"),
            DetectedKind::RedisAof
        );
        assert_eq!(detect(b"*\r\n"), DetectedKind::Unknown);
        assert_eq!(detect(b"*12\n"), DetectedKind::Unknown);
    }

    #[test]
    fn openpgp_binary_packets() {
        // gpg --encrypt: a version 3 PKESK, old format, two-octet length (RSA) or one (ECDH).
        assert_eq!(detect(b"\x85\x01\x0c\x03\x12\x34"), DetectedKind::Gpg);
        assert_eq!(detect(b"\x84\x5e\x03\x12\x34"), DetectedKind::Gpg);
        // The same packet in new format (RFC 9580 version 6).
        assert_eq!(detect(b"\xc1\x5e\x06\x21"), DetectedKind::Gpg);
        // gpg --symmetric: a version 4 SKESK, old format.
        assert_eq!(detect(b"\x8c\x0d\x04\x09\x03\x08"), DetectedKind::Gpg);
        // New-format SKESK, version 6, two-octet length.
        assert_eq!(detect(b"\xc3\xc0\x10\x06\x21"), DetectedKind::Gpg);
        // Compressed data (ZLIB), old format: signed, not encrypted.
        assert_eq!(detect(b"\xa3\x02\x78\x9c"), DetectedKind::Unknown);
        // Symmetrically encrypted data, new format.
        assert_eq!(detect(b"\xc9\x20\xaa\xbb"), DetectedKind::Gpg);
        // SEIPD version 1 with a partial body length; AEAD (OCB) version 1 with a 5-octet length.
        assert_eq!(detect(b"\xd2\xe9\x01\xaa"), DetectedKind::Gpg);
        assert_eq!(
            detect(b"\xd4\xff\x00\x00\x10\x00\x01\x07"),
            DetectedKind::Gpg
        );
    }

    #[test]
    fn high_bytes_that_are_not_encrypted_openpgp_are_unknown() {
        // Literal data (tag 11): readable content, not an encrypted message.
        assert_eq!(detect(b"\xcb\x10b\x00data"), DetectedKind::Unknown);
        // A PKESK tag with an impossible version.
        assert_eq!(detect(b"\x85\x01\x0c\x09"), DetectedKind::Unknown);
        // A lone marker byte.
        assert_eq!(detect(b"\x85"), DetectedKind::Unknown);
        // ELF, JPEG.
        assert_eq!(detect(b"\x7fELF\x02\x01"), DetectedKind::Unknown);
        assert_eq!(detect(b"\xff\xd8\xff\xe0"), DetectedKind::Unknown);
    }

    #[test]
    fn armoured_pgp_message() {
        assert_eq!(
            detect(b"-----BEGIN PGP MESSAGE-----\n\nhQEMA..."),
            DetectedKind::Gpg
        );
    }

    #[test]
    fn age_and_openssl_enc() {
        assert_eq!(
            detect(b"age-encryption.org/v1\n-> X25519 abc\n"),
            DetectedKind::Age
        );
        assert_eq!(
            detect(b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl"),
            DetectedKind::Age
        );
        assert_eq!(
            detect(b"Salted__\x01\x02\x03\x04\x05\x06\x07\x08"),
            DetectedKind::OpenSslEnc
        );
    }

    #[test]
    fn gzipped_pg_dump_plain() {
        let body = format!(
            "{PG_DUMP_HEADER}{}",
            "INSERT INTO t VALUES (1);\n".repeat(5000)
        );
        let compressed = gzip(body.as_bytes());
        assert!(compressed.len() > HEAD_BYTES / 10);
        assert_eq!(detect(head(&compressed)), DetectedKind::PgDumpPlainGzip);
    }

    #[test]
    fn gzipped_tar() {
        let compressed = gzip(&tar_archive());
        assert_eq!(detect(head(&compressed)), DetectedKind::TarGz);
    }

    #[test]
    fn gzipped_tar_truncated_to_the_head_of_a_large_archive() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut noise = Vec::with_capacity(200_000);
        let mut state = 0x2545_f491_u32;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            noise.push(state as u8);
        }
        let mut header = tar::Header::new_ustar();
        header.set_size(noise.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        builder
            .append_data(&mut header, "random.bin", noise.as_slice())
            .unwrap();
        let compressed = gzip(&builder.into_inner().unwrap());
        assert!(compressed.len() > HEAD_BYTES);
        assert_eq!(detect(head(&compressed)), DetectedKind::TarGz);
    }

    #[test]
    fn gzip_of_something_else_or_broken_is_gzip() {
        assert_eq!(detect(&gzip(b"just some text\n")), DetectedKind::Gzip);
        assert_eq!(detect(&gzip(b"")), DetectedKind::Gzip);
        assert_eq!(detect(b"\x1f\x8b"), DetectedKind::Gzip);
        assert_eq!(
            detect(b"\x1f\x8b\x08\x00garbage that is not deflate"),
            DetectedKind::Gzip
        );
    }

    #[test]
    fn anything_else_is_unknown() {
        assert_eq!(detect(b"hello"), DetectedKind::Unknown);
        assert_eq!(detect(b"PK\x03\x04"), DetectedKind::Unknown);
    }
}
