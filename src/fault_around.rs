//! Switches off the kernel's fault-around for the read-only mappings of the binary and its shared
//! libraries, so the pages they keep resident are the pages the console reads.
//!
//! Why: on a page fault in a file mapping, Linux maps the 64 KiB around the page as well (those
//! of them already in the page cache, which for a binary that has just run is all of them). Code
//! and read-only data the console runs are scattered over the binary and libc: a page of a
//! string table, of unwind tables or of a libc function brings 15 pages nobody reads, and that was
//! most of the binary's resident `.rodata` and half of libc's code (issue 13, resident memory).
//! The kernel skips fault-around in mappings registered with a userfaultfd for write-protection
//! (it would hide the faults userfaultfd reports), and since Linux 6.7 the asynchronous mode
//! (`UFFD_FEATURE_WP_ASYNC`, no handler thread: the kernel resolves write faults itself) accepts
//! any mapping. These mappings are never written, so no such fault ever happens: registering them
//! changes fault-around and nothing else. The pages mapped before `main` (the loader's reading of
//! symbol and relocation tables, libc's start-up) are dropped at the same time, so only what the
//! program reads from then on comes back, a page at a time. They are clean pages of files:
//! dropping them loses nothing, a later read maps them again from the page cache.
//!
//! The descriptor stays open for the process's life (closing it unregisters). Where the kernel
//! is older, or userfaultfd is refused (sysctl, seccomp), nothing changes and the caller falls
//! back to [`crate::loader_tables`].

use std::ops::Range;

/// A read-only mapping of a file, from `/proc/self/smaps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub addresses: Range<usize>,
    /// No page of it was ever written (copied on write); only such a mapping may be dropped.
    pub clean: bool,
}

/// Registers every read-only file mapping of the process and drops the pages of the clean ones;
/// returns the mappings registered, where fault-around is off from now on. An error means
/// nothing was registered (no userfaultfd, or one without the asynchronous mode); a mapping the
/// kernel refuses is left as it was. Call it first thing in `main`, while the process has one
/// thread.
pub fn switch_off() -> std::io::Result<Vec<Mapping>> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    imp::register(read_only_file_mappings(&smaps))
}

/// The private, non-writable mappings of files in an smaps listing, with whether any page of
/// them is anonymous (written, as the loader does to the relocated data before sealing it),
/// resident or swapped out.
pub fn read_only_file_mappings(smaps: &str) -> Vec<Mapping> {
    let mut mappings: Vec<Mapping> = Vec::new();
    let mut current: Option<usize> = None;
    for line in smaps.lines() {
        if let Some((addresses, kept)) = mapping_header(line) {
            current = kept.then(|| {
                mappings.push(Mapping {
                    addresses,
                    clean: true,
                });
                mappings.len() - 1
            });
        } else if let Some(index) = current {
            // A written page is anonymous: in memory, or swapped out.
            let written = ["Anonymous:", "Swap:"]
                .iter()
                .filter_map(|field| line.strip_prefix(field))
                .any(|kib| kib.trim().trim_end_matches("kB").trim() != "0");
            mappings[index].clean &= !written;
        }
    }
    mappings
}

/// The addresses of the mapping whose entry `line` opens, and whether it is a private,
/// non-writable mapping of a file (a nonzero inode); `None` for the entry's other lines.
fn mapping_header(line: &str) -> Option<(Range<usize>, bool)> {
    let mut fields = line.split_ascii_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?.as_bytes();
    let _offset = fields.next()?;
    let _device = fields.next()?;
    let inode: u64 = fields.next()?.parse().ok()?;
    if perms.len() != 4 {
        return None;
    }
    let kept = perms[1] == b'-' && perms[3] == b'p' && inode != 0 && start < end;
    Some((start..end, kept))
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod imp {
    use std::os::fd::OwnedFd;
    use std::sync::OnceLock;

    use rustix::ioctl::{Opcode, Updater, ioctl, opcode};
    use rustix::mm::{Advice, UserfaultfdFlags, madvise, userfaultfd};

    use super::Mapping;

    /// `UFFD_USER_MODE_ONLY`: what an unprivileged process may open with the default
    /// `vm.unprivileged_userfaultfd = 0`; faults in the kernel's own accesses are not reported,
    /// and none are wanted.
    const USER_MODE_ONLY: u32 = 1;
    const UFFD_API: u64 = 0xaa;
    const FEATURE_WP_ASYNC: u64 = 1 << 15;
    const REGISTER_MODE_WP: u64 = 1 << 1;

    /// `struct uffdio_api`.
    #[repr(C)]
    struct Api {
        api: u64,
        features: u64,
        ioctls: u64,
    }

    /// `struct uffdio_register`.
    #[repr(C)]
    struct Register {
        start: u64,
        len: u64,
        mode: u64,
        ioctls: u64,
    }

    const UFFDIO_API: Opcode = opcode::read_write::<Api>(0xaa, 0x3f);
    const UFFDIO_REGISTER: Opcode = opcode::read_write::<Register>(0xaa, 0x00);

    /// Kept open for the process's life: closing it would unregister every mapping.
    static DESCRIPTOR: OnceLock<OwnedFd> = OnceLock::new();

    pub fn register(mappings: Vec<Mapping>) -> std::io::Result<Vec<Mapping>> {
        let descriptor = match DESCRIPTOR.get() {
            Some(descriptor) => descriptor,
            None => {
                let flags = UserfaultfdFlags::CLOEXEC
                    | UserfaultfdFlags::NONBLOCK
                    | UserfaultfdFlags::from_bits_retain(USER_MODE_ONLY);
                // SAFETY: the descriptor is only ever used below, to register write-protection
                // in asynchronous mode, where the kernel itself resolves the faults.
                let descriptor = unsafe { userfaultfd(flags) }?;
                let mut api = Api {
                    api: UFFD_API,
                    features: FEATURE_WP_ASYNC,
                    ioctls: 0,
                };
                // SAFETY: UFFDIO_API reads and writes a `struct uffdio_api`, which `Api` is.
                unsafe { ioctl(&descriptor, Updater::<UFFDIO_API, Api>::new(&mut api)) }?;
                DESCRIPTOR.get_or_init(|| descriptor)
            }
        };
        let mut registered = Vec::with_capacity(mappings.len());
        for mapping in mappings {
            let addresses = &mapping.addresses;
            let mut register = Register {
                start: addresses.start as u64,
                len: (addresses.end - addresses.start) as u64,
                mode: REGISTER_MODE_WP,
                ioctls: 0,
            };
            // SAFETY: UFFDIO_REGISTER reads and writes a `struct uffdio_register`, which
            // `Register` is. Registering read-only memory for write-protection changes no access.
            let accepted = unsafe {
                ioctl(
                    descriptor,
                    Updater::<UFFDIO_REGISTER, Register>::new(&mut register),
                )
            };
            if accepted.is_err() {
                continue;
            }
            if mapping.clean {
                // SAFETY: a private, read-only mapping of a file with no written page (smaps,
                // read while the process has one thread): its pages are the file's, and a later
                // access maps them again from the page cache. Should the kernel refuse, the
                // pages stay, which costs memory and nothing else.
                let _ = unsafe {
                    madvise(
                        addresses.start as *mut std::ffi::c_void,
                        addresses.end - addresses.start,
                        Advice::LinuxDontNeed,
                    )
                };
            }
            registered.push(mapping);
        }
        Ok(registered)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn register(_: Vec<super::Mapping>) -> std::io::Result<Vec<super::Mapping>> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_private_read_only_file_mappings_and_notes_written_pages() {
        let smaps = "\
55d0c0000000-55d0c0100000 r--p 00000000 fd:01 1234 /usr/bin/opsdeck
Size:               1024 kB
Anonymous:             0 kB
55d0c0100000-55d0c0200000 r-xp 00100000 fd:01 1234 /usr/bin/opsdeck
Anonymous:             0 kB
Swap:                  0 kB
55d0c0200000-55d0c0210000 r--p 00200000 fd:01 1234 /usr/bin/opsdeck
Anonymous:            64 kB
55d0c0210000-55d0c0211000 r--p 00210000 fd:01 1234 /usr/bin/opsdeck
Anonymous:             0 kB
Swap:                  4 kB
55d0c0211000-55d0c0220000 rw-p 00211000 fd:01 1234 /usr/bin/opsdeck
Anonymous:             0 kB
7f0000000000-7f0000021000 rw-p 00000000 00:00 0
Anonymous:             4 kB
7f0000100000-7f0000200000 r--s 00000000 fd:01 99 /dev/shm/shared
Anonymous:             0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
";
        assert_eq!(
            read_only_file_mappings(smaps),
            vec![
                Mapping {
                    addresses: 0x55d0_c000_0000..0x55d0_c010_0000,
                    clean: true
                },
                Mapping {
                    addresses: 0x55d0_c010_0000..0x55d0_c020_0000,
                    clean: true
                },
                Mapping {
                    addresses: 0x55d0_c020_0000..0x55d0_c021_0000,
                    clean: false
                },
                Mapping {
                    addresses: 0x55d0_c021_0000..0x55d0_c021_1000,
                    clean: false
                },
            ]
        );
    }
}

/// Whether the page at `address` is in memory, from `/proc/self/pagemap` (bit 63); the tests
/// of this module and of `loader_tables` read it.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn page_resident(address: usize) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut pagemap = std::fs::File::open("/proc/self/pagemap")?;
    let page = rustix::param::page_size();
    pagemap.seek(SeekFrom::Start((address / page * 8) as u64))?;
    let mut entry = [0u8; 8];
    pagemap.read_exact(&mut entry)?;
    Ok(u64::from_le_bytes(entry) >> 63 == 1)
}

#[cfg(all(test, target_os = "linux"))]
mod linux_tests {

    /// 256 KiB of read-only data in this test binary's file mapping.
    static TABLE: [u8; 256 * 1024] = [7; 256 * 1024];

    use super::page_resident as resident;

    #[test]
    fn a_read_maps_its_own_page_and_not_the_ones_around_it() {
        let page = rustix::param::page_size();
        // Every page of the table read once: in the page cache and mapped.
        let sum: u64 = std::hint::black_box(&TABLE)
            .iter()
            .step_by(page)
            .map(|&byte| u64::from(byte))
            .sum();
        assert_eq!(sum, 7 * (TABLE.len() / page) as u64);
        let middle = TABLE.as_ptr() as usize + TABLE.len() / 2;
        let middle = middle - middle % page;
        assert!(resident(middle + page).unwrap());

        let registered = super::switch_off().unwrap();
        assert!(
            registered
                .iter()
                .any(|mapping| mapping.addresses.contains(&middle) && mapping.clean),
            "the table's mapping was not registered: {registered:x?}"
        );
        assert!(
            !resident(middle).unwrap(),
            "the table's pages were not dropped"
        );

        let offset = middle - TABLE.as_ptr() as usize;
        assert_eq!(std::hint::black_box(&TABLE)[offset], 7);
        assert!(resident(middle).unwrap());
        // With fault-around, the 64 KiB around it would be back too.
        for neighbour in [
            middle - 2 * page,
            middle - page,
            middle + page,
            middle + 2 * page,
        ] {
            assert!(
                !resident(neighbour).unwrap(),
                "page {neighbour:#x} next to the one read is resident"
            );
        }
    }
}
