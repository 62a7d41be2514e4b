//! A layer blob through the whole layer pipeline: decompression sniffing, size guard, digests, tar
//! reader, path and symlink checks, a visitor reading every file, the merged view.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = palisade_image::fuzzing::tar_walker(data);
});
