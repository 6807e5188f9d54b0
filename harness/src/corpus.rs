//! The files `/files/{name}` serves: making a corpus of deterministic files, finding the files
//! of one size in it, and putting them in or out of the page cache before a run.
//!
//! A corpus file is named `{size}-{index}` (`64KiB-0007`), and its bytes are an xorshift
//! stream seeded by that name: the same command makes the same bytes anywhere, no two files
//! share content, and a chunk served from the wrong offset or the wrong file shows.
//!
//! Cold: each file is written back (`fdatasync`, as dirty pages cannot be dropped) and dropped
//! from the page cache (`posix_fadvise(POSIX_FADV_DONTNEED)`), then `mincore` over a mapping
//! of it counts what is still resident, so a run that claims "cold" says how cold it was.
//! Warm: each file is read once, whole, and `mincore` says how much stayed.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Bytes written or read at a time while making or warming a corpus.
const CHUNK: usize = 1 << 20;

/// A size as a corpus names it and `matrix.toml` writes it: `4KiB`, `64KiB`, `1MiB`,
/// `16MiB`, or bytes (`1000`, `1000B`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let shift = match unit {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => return Err(format!("{text:?} is not a size (e.g. 4KiB, 64KiB, 1MiB, 16MiB, or bytes)")),
    };
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a size (e.g. 4KiB, 64KiB, 1MiB)"))?;
    if n == 0 {
        return Err(format!("{text:?}: a file size must be more than zero"));
    }
    n.checked_mul(1 << shift)
        .filter(|size| *size <= MAX_SIZE)
        .ok_or_else(|| format!("{text:?}: at most 4GiB"))
}

/// The largest file a corpus holds: 4 GiB, past any 32-bit length.
pub const MAX_SIZE: u64 = 4 << 30;

/// A size as file names and reports write it: the largest unit it is a whole number of.
pub fn size_label(size: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if size >= 1 << shift && size % (1 << shift) == 0 {
            return format!("{}{unit}", size >> shift);
        }
    }
    format!("{size}B")
}

/// The name of file `index` of `size`.
pub fn file_name(size: u64, index: usize) -> String {
    format!("{}-{index:04}", size_label(size))
}

/// The whole content of the corpus file `name` of `size` bytes (for tests and checks of
/// small files; large ones are streamed with [`Stream`]).
pub fn content(name: &str, size: usize) -> Vec<u8> {
    let mut out = vec![0; size];
    Stream::new(name).fill(&mut out);
    out
}

/// A corpus file's bytes, front to back, a buffer at a time.
#[derive(Debug, Clone)]
pub struct Stream {
    state: u64,
    /// Bytes of the current word not handed out yet.
    pending: [u8; 8],
    left: usize,
}

impl Stream {
    pub fn new(name: &str) -> Stream {
        Stream { state: seed(name), pending: [0; 8], left: 0 }
    }

    /// The next `out.len()` bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut at = 0;
        while at < out.len() {
            if self.left == 0 {
                self.state = step(self.state);
                self.pending = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
                self.left = 8;
            }
            let take = self.left.min(out.len() - at);
            let from = 8 - self.left;
            out[at..at + take].copy_from_slice(&self.pending[from..from + take]);
            self.left -= take;
            at += take;
        }
    }
}

/// FNV-1a of the name: a different stream for every file.
fn seed(name: &str) -> u64 {
    let hash =
        name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    hash | 1
}

/// xorshift64 (the state of xorshift64*).
fn step(mut x: u64) -> u64 {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x
}

/// Writes `count` files of each of `sizes` into `dir` (made if missing); returns how many
/// bytes were written. Files already there with the right size and bytes are left alone.
pub fn make(dir: &Path, sizes: &[u64], count: usize) -> io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut written = 0;
    let mut buf = vec![0; CHUNK];
    for &size in sizes {
        for index in 0..count {
            let name = file_name(size, index);
            let path = dir.join(&name);
            if matches(&path, &name, size).unwrap_or(false) {
                continue;
            }
            let mut file = File::create(&path)?;
            let mut stream = Stream::new(&name);
            let mut left = size;
            while left > 0 {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(CHUNK);
                stream.fill(&mut buf[..take]);
                file.write_all(&buf[..take])?;
                left -= take as u64;
            }
            written += size;
        }
    }
    Ok(written)
}

/// Whether the file at `path` holds exactly the corpus bytes of `name` and `size`.
pub fn matches(path: &Path, name: &str, size: u64) -> io::Result<bool> {
    let mut file = File::open(path)?;
    if file.metadata()?.len() != size {
        return Ok(false);
    }
    let mut stream = Stream::new(name);
    let mut want = vec![0; CHUNK];
    let mut got = vec![0; CHUNK];
    let mut left = size;
    while left > 0 {
        let take = usize::try_from(left).unwrap_or(usize::MAX).min(CHUNK);
        stream.fill(&mut want[..take]);
        file.read_exact(&mut got[..take])?;
        if want[..take] != got[..take] {
            return Ok(false);
        }
        left -= take as u64;
    }
    Ok(true)
}

/// The names of the corpus files of `size` in `dir` (`{size}-NNNN`, regular, exactly `size`
/// bytes), in order.
pub fn names(dir: &Path, size: u64) -> io::Result<Vec<String>> {
    let prefix = format!("{}-", size_label(size));
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let index = name.strip_prefix(&prefix)?;
            let meta = entry.metadata().ok()?;
            (index.bytes().all(|b| b.is_ascii_digit()) && meta.is_file() && meta.len() == size)
                .then_some(name)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// How much of a set of files was in the page cache after preparing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resident {
    pub pages: u64,
    pub of: u64,
}

impl Resident {
    fn add(&mut self, other: Resident) {
        self.pages += other.pages;
        self.of += other.of;
    }

    /// The resident share, 0..=1 (1 for no pages at all).
    pub fn share(&self) -> f64 {
        if self.of == 0 {
            1.0
        } else {
            self.pages as f64 / self.of as f64
        }
    }
}

/// Drops `paths` from the page cache; returns what `mincore` still finds resident.
pub fn drop_cached(paths: &[PathBuf]) -> io::Result<Resident> {
    let mut resident = Resident::default();
    for path in paths {
        let file = File::open(path)?;
        // Dirty pages are not dropped: write them back first (nothing to do once clean).
        file.sync_data()?;
        // SAFETY: fadvise on a live descriptor touches no memory of ours.
        let err = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if err != 0 {
            return Err(io::Error::from_raw_os_error(err));
        }
        resident.add(resident_pages(&file)?);
    }
    Ok(resident)
}

/// Reads `paths` whole, so they are in the page cache; returns what `mincore` finds resident.
pub fn warm(paths: &[PathBuf]) -> io::Result<Resident> {
    let mut resident = Resident::default();
    let mut buf = vec![0; CHUNK];
    for path in paths {
        let mut file = File::open(path)?;
        while file.read(&mut buf)? > 0 {}
        resident.add(resident_pages(&file)?);
    }
    Ok(resident)
}

/// `mincore` over a read-only mapping of `file`: its resident pages, of all its pages.
pub fn resident_pages(file: &File) -> io::Result<Resident> {
    let len = usize::try_from(file.metadata()?.len()).map_err(|_| io::Error::other("too large to map"))?;
    if len == 0 {
        return Ok(Resident::default());
    }
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let pages = len.div_ceil(page);
    // SAFETY: a fresh shared read-only mapping of a live descriptor, of its length; unmapped
    // below, and never read through (mincore only asks the kernel about it).
    let map = unsafe {
        libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0)
    };
    if map == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let mut vec = vec![0u8; pages];
    // SAFETY: `map` is a mapping of `len` bytes and `vec` holds one byte per page of it.
    let result = unsafe { libc::mincore(map, len, vec.as_mut_ptr()) };
    let err = io::Error::last_os_error();
    // SAFETY: `map` and `len` are the mapping made above, unmapped once.
    unsafe { libc::munmap(map, len) };
    if result != 0 {
        return Err(err);
    }
    Ok(Resident { pages: vec.iter().filter(|b| **b & 1 == 1).count() as u64, of: pages as u64 })
}

/// `k` names of `names` to check a server's answers against: the first, the last, and the
/// rest drawn with `seed` (all of them if there are no more than `k`).
pub fn sample(names: &[String], k: usize, seed: u64) -> Vec<String> {
    if names.len() <= k {
        return names.to_vec();
    }
    let mut picked = vec![0, names.len() - 1];
    let mut state = seed | 1;
    while picked.len() < k {
        state = step(state);
        let index = (state % names.len() as u64) as usize;
        if !picked.contains(&index) {
            picked.push(index);
        }
    }
    picked.sort_unstable();
    picked.into_iter().map(|i| names[i].clone()).collect()
}

/// The bytes of corpus file `name` in `dir`, if it is one (for checking a server's answer).
pub fn read(dir: &Path, name: &[u8]) -> Option<Vec<u8>> {
    let name = std::str::from_utf8(name).ok()?;
    if !server_spec::files::is_safe_name(name.as_bytes()) {
        return None;
    }
    std::fs::read(dir.join(name)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_labels() {
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("1000B"), Ok(1000));
        assert!(parse_size("4KB").unwrap_err().contains("not a size"));
        assert!(parse_size("0KiB").is_err());
        assert!(parse_size("5GiB").unwrap_err().contains("at most"));
        for size in [4096, 64 << 10, 1 << 20, 16 << 20, 1000, 1 << 30] {
            assert_eq!(parse_size(&size_label(size)), Ok(size));
        }
        assert_eq!(file_name(64 << 10, 7), "64KiB-0007");
    }

    #[test]
    fn content_is_the_same_however_it_is_cut() {
        let whole = content("64KiB-0001", 1000);
        let mut stream = Stream::new("64KiB-0001");
        let mut cut = vec![0; 1000];
        for range in [0..3, 3..11, 11..500, 500..1000] {
            stream.fill(&mut cut[range]);
        }
        assert_eq!(whole, cut);
        assert_ne!(whole, content("64KiB-0002", 1000), "every file its own bytes");
    }

    #[test]
    fn make_find_drop_and_warm() {
        let dir = std::env::temp_dir().join(format!("rm-corpus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(make(&dir, &[4096, 100_000], 3).unwrap(), 3 * 4096 + 3 * 100_000);
        assert_eq!(make(&dir, &[4096], 3).unwrap(), 0, "already there: left alone");
        std::fs::write(dir.join("4KiB-0009"), b"short").unwrap();
        assert_eq!(names(&dir, 4096).unwrap(), ["4KiB-0000", "4KiB-0001", "4KiB-0002"]);
        assert!(matches(&dir.join("100000B-0001"), "100000B-0001", 100_000).unwrap());
        let paths: Vec<PathBuf> = names(&dir, 100_000).unwrap().iter().map(|n| dir.join(n)).collect();
        let warm = warm(&paths).unwrap();
        assert_eq!(warm, Resident { pages: 3 * 25, of: 3 * 25 }, "read whole: all resident");
        let cold = drop_cached(&paths).unwrap();
        assert_eq!(cold.of, 75);
        assert_eq!(cold.pages, 0, "dropped: none resident");
        assert_eq!(read(&dir, b"4KiB-0001").unwrap(), content("4KiB-0001", 4096));
        assert_eq!(read(&dir, b"../x"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn samples_include_both_ends_and_repeat() {
        let names: Vec<String> = (0..100).map(|i| format!("n{i}")).collect();
        let sample = sample(&names, 4, 7);
        assert_eq!(sample.len(), 4);
        assert_eq!(sample.first().map(String::as_str), Some("n0"));
        assert_eq!(sample.last().map(String::as_str), Some("n99"));
        assert_eq!(super::sample(&names, 4, 7), sample, "seeded");
        assert_eq!(super::sample(&names[..3], 4, 7).len(), 3);
    }
}
