//! Gives the pages of the binary's relocation tables back once the loader has applied them.
//!
//! A position-independent binary carries a table of every pointer the loader must adjust at
//! start (`.rela.dyn`: 0.3 MiB for opsdeck, a tenth of its resident memory beyond code and
//! data). The loader reads it once, before `main`, and never again (the binary is linked with
//! `-z now`, so the PLT's table is done with too), yet its pages stay counted in the console's
//! resident memory for the whole session. Packed relative relocations (`-z
//! pack-relative-relocs`) would shrink the table instead, but need glibc 2.36 on every host the
//! binary runs on. These pages are clean, read-only pages of the file: dropping them costs
//! nothing, and should anything read them again the kernel reads them back from the file.

/// Drops the resident pages of the applied relocation tables; returns the address ranges
/// released (none where the binary's layout is not the one expected, which is left untouched).
pub fn release() -> Vec<std::ops::Range<usize>> {
    imp::release()
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[allow(unsafe_code)]
mod imp {
    use std::ops::Range;

    const PT_LOAD: u32 = 1;
    const PT_DYNAMIC: u32 = 2;
    const PT_GNU_RELRO: u32 = 0x6474_e552;
    const PF_R: u32 = 4;
    const DT_NULL: u64 = 0;
    const DT_PLTRELSZ: u64 = 2;
    const DT_RELA: u64 = 7;
    const DT_RELASZ: u64 = 8;
    const DT_JMPREL: u64 = 23;
    const DT_FLAGS: u64 = 30;
    const DT_FLAGS_1: u64 = 0x6fff_fffb;
    const DF_BIND_NOW: u64 = 8;
    const DF_1_NOW: u64 = 1;
    /// Guards the walk over the dynamic section against a missing terminator.
    const MAX_DYNAMIC_ENTRIES: usize = 4096;

    unsafe extern "C" {
        /// The ELF header of the executable, defined by the linker (GNU ld and lld).
        static __ehdr_start: u8;
    }

    struct Segment {
        kind: u32,
        flags: u32,
        offset: u64,
        address: Range<usize>,
    }

    /// Reads a `T` at `base + offset` of the loaded image.
    ///
    /// Safety: the bytes must be mapped and readable.
    unsafe fn read<T: Copy>(base: usize, offset: usize) -> T {
        // SAFETY: the caller vouches for the bytes; the image makes no alignment promise.
        unsafe { std::ptr::read_unaligned((base + offset) as *const T) }
    }

    pub fn release() -> Vec<Range<usize>> {
        let header = &raw const __ehdr_start as usize;
        // SAFETY: the ELF header and the program headers are in the first loaded segment,
        // mapped for the process's whole life.
        let segments = unsafe { segments(header) };
        let Some(first) = segments
            .iter()
            .find(|segment| segment.kind == PT_LOAD && segment.offset == 0)
        else {
            return Vec::new();
        };
        // The load bias: where the image is, minus where it was linked to be.
        let bias = header.wrapping_sub(first.address.start);
        let relocate = |range: Range<usize>| -> Range<usize> {
            range.start.wrapping_add(bias)..range.end.wrapping_add(bias)
        };
        let Some(dynamic) = segments.iter().find(|segment| segment.kind == PT_DYNAMIC) else {
            return Vec::new();
        };
        // SAFETY: the dynamic section is mapped, and ends with DT_NULL (the walk is bounded).
        let tables = unsafe { applied_tables(relocate(dynamic.address.clone()).start, bias) };
        let read_only: Vec<Range<usize>> = segments
            .iter()
            .filter(|segment| segment.kind == PT_LOAD && segment.flags == PF_R)
            .map(|segment| relocate(segment.address.clone()))
            .collect();
        let relro: Vec<Range<usize>> = segments
            .iter()
            .filter(|segment| segment.kind == PT_GNU_RELRO)
            .map(|segment| relocate(segment.address.clone()))
            .collect();
        let page = rustix::param::page_size();
        tables
            .into_iter()
            .filter_map(|table| {
                let start = table.start.next_multiple_of(page);
                let end = table.end - table.end % page;
                let pages = start..end;
                let safe = pages.start < pages.end
                    && read_only
                        .iter()
                        .any(|segment| segment.start <= pages.start && pages.end <= segment.end)
                    && !relro
                        .iter()
                        .any(|area| area.start < pages.end && pages.start < area.end);
                safe.then_some(pages)
            })
            .filter(|pages| {
                let length = pages.end - pages.start;
                // SAFETY: whole pages of a read-only, never-written private mapping of the
                // binary (checked above): dropping them loses nothing; a later read faults
                // them back in from the file.
                let dropped = unsafe {
                    rustix::mm::madvise(
                        pages.start as *mut std::ffi::c_void,
                        length,
                        rustix::mm::Advice::LinuxDontNeed,
                    )
                };
                dropped.is_ok()
            })
            .collect()
    }

    /// The program headers of the image whose ELF header is at `header`.
    ///
    /// Safety: `header` must be the mapped ELF header of a loaded 64-bit image.
    unsafe fn segments(header: usize) -> Vec<Segment> {
        // SAFETY: fixed offsets of the Elf64_Ehdr and Elf64_Phdr layouts, inside the mapping.
        unsafe {
            let table: u64 = read(header, 0x20);
            let entry_size: u16 = read(header, 0x36);
            let count: u16 = read(header, 0x38);
            (0..usize::from(count))
                .map(|index| {
                    let at = table as usize + index * usize::from(entry_size);
                    let address: u64 = read(header, at + 16);
                    let size: u64 = read(header, at + 32);
                    Segment {
                        kind: read(header, at),
                        flags: read(header, at + 4),
                        offset: read(header, at + 8),
                        address: address as usize..(address + size) as usize,
                    }
                })
                .collect()
        }
    }

    /// The relocation tables the loader has finished with, as runtime address ranges: the
    /// `DT_RELA` table, and the PLT's when the binary is bound at start.
    ///
    /// Safety: `dynamic` must be the mapped dynamic section of the image loaded at `bias`.
    unsafe fn applied_tables(dynamic: usize, bias: usize) -> Vec<Range<usize>> {
        let (mut rela, mut rela_size, mut plt, mut plt_size) = (None, 0, None, 0);
        let mut bound_at_start = false;
        for index in 0..MAX_DYNAMIC_ENTRIES {
            // SAFETY: Elf64_Dyn entries (tag, value) up to DT_NULL, inside the section.
            let (tag, value): (u64, u64) =
                unsafe { (read(dynamic, index * 16), read(dynamic, index * 16 + 8)) };
            match tag {
                DT_NULL => break,
                DT_RELA => rela = Some(value as usize),
                DT_RELASZ => rela_size = value as usize,
                DT_JMPREL => plt = Some(value as usize),
                DT_PLTRELSZ => plt_size = value as usize,
                DT_FLAGS => bound_at_start |= value & DF_BIND_NOW != 0,
                DT_FLAGS_1 => bound_at_start |= value & DF_1_NOW != 0,
                _ => {}
            }
        }
        // glibc rewrites these addresses in place to runtime ones; other loaders may not.
        let runtime = |address: usize| {
            if address < bias {
                address.wrapping_add(bias)
            } else {
                address
            }
        };
        let mut tables = Vec::new();
        if let Some(rela) = rela {
            tables.push(runtime(rela)..runtime(rela) + rela_size);
        }
        if let (Some(plt), true) = (plt, bound_at_start) {
            tables.push(runtime(plt)..runtime(plt) + plt_size);
        }
        tables
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod imp {
    pub fn release() -> Vec<std::ops::Range<usize>> {
        Vec::new()
    }
}

#[cfg(all(test, target_os = "linux", target_pointer_width = "64"))]
mod tests {
    use crate::fault_around::page_resident as resident;

    #[test]
    fn the_relocation_table_pages_leave_memory_and_the_program_goes_on() {
        let released = super::release();
        let bytes: usize = released.iter().map(|pages| pages.end - pages.start).sum();
        // This test binary is position-independent with thousands of relocations too.
        assert!(
            bytes >= 64 * 1024,
            "released only {bytes} bytes: {released:x?}"
        );
        let page = rustix::param::page_size();
        for pages in &released {
            for address in pages.clone().step_by(page) {
                assert!(
                    !resident(address).unwrap(),
                    "page {address:#x} is still resident"
                );
            }
        }
        // A second call finds the same tables and drops them again without harm.
        assert_eq!(super::release(), released);
    }
}
