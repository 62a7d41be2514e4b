//! GPG "simple signing" inputs: the first byte picks an OpenPGP signature blob (binary,
//! armoured, or with containers/image's format prefix), a keyring, a `registries.d` file, or a
//! containers `policy.json` to import.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => {
            // Parsed, decompressed and read to its end before any key is tried: with no
            // keyring, every input must end in an error, never in acceptance.
            assert!(palisade_trust::gpg::open_signature(rest, &[]).is_err());
        }
        1 => {
            let _ = palisade_trust::gpg::Keyring::from_bytes("fuzz", rest);
        }
        2 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let mut d = palisade_trust::gpg::RegistriesD::default();
                let _ = d.add(text, "fuzz.yaml");
            }
        }
        _ => {
            let _ = palisade_trust::containers_policy::import(rest, std::path::Path::new("/"));
        }
    }
});
