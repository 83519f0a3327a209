/// The release this tree is: the one place it is named. `scripts/package` reads it and adds
/// `git describe`'s distance and commit to make the Debian package's version.
let kioskReleaseVersion = "0.1.0"

/// What `drippay-kiosk --version` prints. A package build (`scripts/package`, which compiles with
/// `-DDRIPPAY_KIOSK_PACKAGED`) prints the package's own version, written by that script into the
/// git-ignored `PackagedVersion.swift`; any other build says it is not a packaged one.
#if DRIPPAY_KIOSK_PACKAGED
let kioskVersion = kioskPackagedVersion
#else
let kioskVersion = kioskReleaseVersion + "-dev (built from source, not packaged)"
#endif
