//! `uniffi-bindgen`, in-tree so its version is the one `rumor-swift` links (a mismatched
//! generator produces code that fails its checksum checks at run time).

fn main() {
    uniffi::uniffi_bindgen_main()
}
